#!/usr/bin/env bash
# Launch cost of the Ray cluster backend against the native sandbox:
# `sandbox-tui run -p strict -- /bin/true` on this machine and through
# `--cluster` (a job on a private two-node cluster on this machine, started
# with .ci/ray-env and stopped on exit), interleaved round by round so that
# both see the same machine. Run as root. The binary is the debug build
# (PROFILE=release for the LTO build: minutes more to build).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-20}
profile=${PROFILE:-dev}
cargo build --locked --quiet --profile "$profile"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
bin_dir=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/$dir
source .ci/ray-env
ray_env_start "$bin_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"; ray_env_stop' EXIT
export SANDBOX_TUI_STATE_DIR=$work/state

python3 - "$bin_dir/sandbox-tui" "$SANDBOX_TUI_RAY_ADDRESS" "$rounds" <<'PY'
import statistics, subprocess, sys, time

bin, address, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
commands = {
    "native": [bin, "--config", "sandboxes.toml", "run", "-p", "strict", "--", "/bin/true"],
    "ray": [bin, "--config", "sandboxes.toml", "--cluster", address, "run", "-p", "strict", "--", "/bin/true"],
}
times = {name: [] for name in commands}
for r in range(rounds + 2):
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        if r >= 2:
            times[name].append((time.perf_counter() - start) * 1000)
native = statistics.median(times["native"])
print(f"{rounds} interleaved rounds, median ms:")
for name, values in times.items():
    m = statistics.median(values)
    print(f"  {name:<7} {m:>8.1f}  x native {m / native:>6.1f}")
PY
