#!/usr/bin/env bash
# Launch latency, interleaved: `sandbox-tui run -p strict -- /bin/true`,
# bubblewrap as the issue gives it and bubblewrap building the same root as
# sandbox-tui, one after the other in every round, so that each sees the
# same machine (hyperfine runs each command's runs in one block, and this
# speed of a shared VM drifts between blocks). Back to back, then spaced
# 100 ms. Each launch is started from Python, which adds the same to all.
# Run as root. Needs: bubblewrap (apt-get install bubblewrap), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-300}
spaced_rounds=${SPACED_ROUNDS:-80}
cargo build --release --locked --quiet
# .cargo/config.toml names the host as the target: binaries are under target/<host>/.
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/sandbox-tui
work=$(mktemp -d)
export SANDBOX_TUI_STATE_DIR=$work/state
# `prune` also removes the network namespace the last run left for the next.
trap '"$bin" --config sandboxes.toml prune >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/workspace"

python3 - "$bin" "$work/workspace" "$rounds" "$spaced_rounds" <<'PY'
import os, statistics, subprocess, sys, time

bin, workspace, rounds, spaced_rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# The same arguments as bwrap-root in bench/startup.sh.
same_root = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
for path in ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/ld.so.conf",
             "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
             "/etc/protocols", "/etc/services", "/etc/mime.types"]:
    if os.path.exists(path):
        same_root += ["--ro-bind", path, path]
same_root += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
              "--bind", workspace, "/workspace", "--chdir", "/workspace"]
commands = {
    "sandbox-tui": [bin, "--config", "sandboxes.toml", "run", "-p", "strict", "--", "/bin/true"],
    "bubblewrap": "bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp /bin/true".split(),
    "bwrap-root": ["bwrap", *same_root, "/bin/true"],
}

def measure(label, rounds, gap):
    times = {name: [] for name in commands}
    for r in range(rounds + 10):
        for name, argv in commands.items():
            if gap:
                time.sleep(gap)
            start = time.perf_counter()
            subprocess.run(argv, stdin=subprocess.DEVNULL, check=True)
            if r >= 10:
                times[name].append((time.perf_counter() - start) * 1000)
    bwrap = statistics.median(times["bubblewrap"])
    root = statistics.median(times["bwrap-root"])
    print(f"{label} ({rounds} rounds):")
    print(f"  {'command':<12} {'median ms':>10} {'x bwrap':>8} {'x bwrap-root':>13}")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"  {name:<12} {m:>10.2f} {m / bwrap:>8.2f} {m / root:>13.2f}")

measure("back to back", rounds, 0)
measure("spaced 100 ms", spaced_rounds, 0.1)
PY
