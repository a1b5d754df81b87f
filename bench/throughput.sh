#!/usr/bin/env bash
# Executions per second, launch to result recorded: `exec` into one warm
# named sandbox (attached, so each run waits for its recorded result), `run`
# (ephemeral sandbox: create + exec + remove), bubblewrap and bare fork+exec,
# all in one hyperfine run. Prints medians, executions per second and ratios.
# Run as root. Needs: hyperfine, bubblewrap (apt-get install hyperfine bubblewrap).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-100}
cargo build --release --locked --quiet
# .cargo/config.toml names the host as the target: binaries are under target/<host>/.
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/sandbox-tui
work=$(mktemp -d)
export SANDBOX_TUI_STATE_DIR=$work/state
# `prune` also removes the network namespace the last run left for the next.
cleanup() {
  "$bin" --config sandboxes.toml rm --force warm >/dev/null 2>&1 || true
  "$bin" --config sandboxes.toml prune >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" --config sandboxes.toml create warm -p strict >/dev/null

hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/tp.json" \
  -n bare "/bin/true" \
  -n bubblewrap "bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp /bin/true" \
  -n exec-warm "$bin --config sandboxes.toml exec warm -- /bin/true" \
  -n run "$bin --config sandboxes.toml run -p strict -- /bin/true" \
  >&2

python3 - "$work/tp.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"{'command':<12} {'median ms':>10} {'per second':>11} {'x bwrap':>8}")
for name, m in r.items():
    print(f"{name:<12} {m*1000:>10.2f} {1/m:>11.0f} {m/r['bubblewrap']:>8.2f}")
PY
