#!/usr/bin/env bash
# Launch cost of the Docker backend against the native sandbox:
# `sandbox-tui run -p P -- /bin/true` with P native (`strict`) and P on the
# docker backend, interleaved round by round so that both see the same
# machine. Starts a private dockerd with .ci/docker-env (stopped on exit).
# Run as root. The binary is the debug build with `--features docker`
# (PROFILE=release for the LTO build: minutes more to build).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-40}
profile=${PROFILE:-dev}
cargo build --locked --quiet --features docker --profile "$profile"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/$dir/sandbox-tui
source .ci/docker-env
docker_env_start
work=$(mktemp -d)
trap 'rm -rf "$work"; docker_env_stop' EXIT
cat sandboxes.toml - >"$work/sandboxes.toml" <<TOML
[profiles.container]
backend = "docker"
docker_image = "$SANDBOX_TUI_DOCKER_IMAGE"
TOML
export SANDBOX_TUI_STATE_DIR=$work/state

python3 - "$bin" "$work/sandboxes.toml" "$rounds" <<'PY'
import statistics, subprocess, sys, time

bin, config, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
commands = {
    "native": [bin, "--config", config, "run", "-p", "strict", "--", "/bin/true"],
    "docker": [bin, "--config", config, "run", "-p", "container", "--", "true"],
}
times = {name: [] for name in commands}
for r in range(rounds + 3):
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        if r >= 3:
            times[name].append((time.perf_counter() - start) * 1000)
native = statistics.median(times["native"])
print(f"{rounds} interleaved rounds, median ms:")
for name, values in times.items():
    m = statistics.median(values)
    print(f"  {name:<7} {m:>8.1f}  x native {m / native:>6.1f}")
PY
