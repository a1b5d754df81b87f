#!/usr/bin/env bash
# Python snippets: `sandbox-tui run --python 'return 1'` end to end against
# bare `python3 -c 'pass'`, and returning a 50 MB result against writing 50 MB
# to a file, in one hyperfine run. Prints medians and ratios. Run as root.
# Needs: hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-30}
cargo build --release --locked --quiet
# .cargo/config.toml names the host as the target: binaries are under target/<host>/.
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/sandbox-tui
work=$(mktemp -d)
export SANDBOX_TUI_STATE_DIR=$work/state
# `prune` also removes the network namespace the last run left for the next.
trap '"$bin" --config "$work/sandboxes.toml" prune >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# The interpreter the sandbox runs: `python3` on the sandbox's PATH, not a
# wrapper of the host's (a pyenv shim would be timed instead of the launch).
python=$(PATH=/usr/local/bin:/usr/bin:/bin command -v python3)
cat > "$work/sandboxes.toml" <<'TOML'
[profiles.big]
max_memory_mb = 1024
max_result_mb = 64
TOML

hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/python.json" \
  -n python-bare "$python -c pass" \
  -n snippet "$bin --config $work/sandboxes.toml run --python 'return 1'" \
  -n write-50mb-bare "$python -c \"open('$work/out','w').write('x' * 52428800)\"" \
  -n return-50mb "$bin --config $work/sandboxes.toml run -p big --json --python \"return 'x' * 52428800\"" \
  >&2

python3 - "$work/python.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"{'command':<16} {'median ms':>10}")
for name, m in r.items():
    print(f"{name:<16} {m*1000:>10.1f}")
print(f"snippet / bare python:        {r['snippet']/r['python-bare']:.1f}x")
print(f"return 50 MB / write 50 MB:   {r['return-50mb']/r['write-50mb-bare']:.1f}x")
PY
