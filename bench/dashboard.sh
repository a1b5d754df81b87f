#!/usr/bin/env bash
# The dashboard's own cost: CPU% (of one core) and RSS of `sandbox-tui` (the
# dashboard) while it shows 20 sandboxes with 500 processes in total, against
# htop showing the same machine, both running at once in detached tmux panes
# of the same size with the same refresh (1 s), measured over the same
# window. Goal: the dashboard uses at most half of htop's CPU.
#
# Everything lives in a private temp dir: state dir, config (a `bench`
# profile, its own cgroup_root), tmux socket, htop config. Nothing outside it
# is touched and nothing is left running. Run as root (CI is root).
# Needs: tmux, htop (apt-get install -y tmux htop), python3.
# DURATION=60 (seconds measured, default 30), SETTLE (default 5),
# SANDBOXES (default 20), PROCS_PER_SANDBOX (default 25: the sandbox's init,
# one sh and its sleep children), REFRESH_MS (default 1000, htop gets the same).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-30}
settle=${SETTLE:-5}
sandboxes=${SANDBOXES:-20}
per_box=${PROCS_PER_SANDBOX:-25}
refresh_ms=${REFRESH_MS:-1000}
cols=160
rows=48
sleeps=$((per_box - 2)) # init + sh + sleeps = per_box
expected=$((sandboxes * per_box))
if ((sleeps < 1 || refresh_ms < 100 || refresh_ms % 100 != 0)); then
  echo "PROCS_PER_SANDBOX must be at least 3 and REFRESH_MS a multiple of 100 (htop counts tenths)" >&2
  exit 2
fi

missing=()
for tool in tmux htop python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench/dashboard.sh needs: ${missing[*]}. Install with: apt-get install -y tmux htop" >&2
  exit 2
fi

cargo build --release --locked --quiet
# .cargo/config.toml names the host as the target: binaries are under target/<host>/.
bin=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/sandbox-tui
work=$(mktemp -d /tmp/sandbox-tui-dashbench.XXXXXX)
tag=$(basename "$work")
cgroot=$tag # its own cgroup root: no name can clash with anyone's sandboxes
cfg=$work/sandboxes.toml
export SANDBOX_TUI_STATE_DIR=$work/state
st=("$bin" --config "$cfg" --state-dir "$work/state")
tm=(tmux -f /dev/null -S "$work/tmux.sock")
created=()

cleanup() {
  local rc=$? name dir left
  trap - EXIT INT TERM
  "${tm[@]}" kill-server >/dev/null 2>&1 || true
  for name in "${created[@]}"; do
    "${st[@]}" rm --force "$name" >/dev/null 2>&1 || true
  done
  # And the network namespace the last launch left for the next.
  "${st[@]}" prune >/dev/null 2>&1 || true
  # The (now empty) cgroup root this run created, in every hierarchy.
  while IFS= read -r dir; do
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(find /sys/fs/cgroup -maxdepth 3 -type d -name "$cgroot" 2>/dev/null)
  rm -rf "$work"
  left=$(pgrep -af "$tag" || true)
  if [[ -n $left ]] || [[ -n $(find /sys/fs/cgroup -maxdepth 3 -type d -name "$cgroot" 2>/dev/null) ]]; then
    echo "cleanup: something of $tag is left:" >&2
    echo "$left" >&2
    rc=1
  else
    echo "cleanup: nothing of $tag left running" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$cfg" <<EOF
[settings]
cgroup_root = "$cgroot"

[profiles.bench]
max_process_count = 64
timeout_seconds = 600
max_cpu_seconds = 600
max_memory_mb = 256
allow_shell = true
max_concurrent = 1
EOF
"${st[@]}" profiles --check >/dev/null

# shellcheck disable=SC2016 # $1 and $i are for the sandbox's sh
job='i=0; while [ "$i" -lt "$1" ]; do sleep 600 & i=$((i + 1)); done; wait'
for n in $(seq -w 1 "$sandboxes"); do
  name=box$n
  "${st[@]}" create "$name" -p bench >/dev/null
  created+=("$name")
  "${st[@]}" exec "$name" --detach -- sh -c "$job" sh "$sleeps" >/dev/null
done

# Count what the tool reports and, independently, the cgroups' members.
count_ls() { "${st[@]}" --json ls | python3 -c 'import json,sys; print(sum(s["processes"] or 0 for s in json.load(sys.stdin)))'; }
count_cg() {
  local dir
  dir=$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$cgroot" | head -n 1)
  find "$dir" -name cgroup.procs -exec cat {} + | wc -l
}
for _ in $(seq 50); do
  [[ $(count_ls) -ge $expected ]] && break
  sleep 0.2
done
in_ls=$(count_ls)
in_cg=$(count_cg)
echo "sandboxes: $sandboxes; processes: $in_ls (ls --json), $in_cg (cgroup.procs); expected $expected" >&2
if [[ $in_ls -ne $expected || $in_cg -ne $expected ]]; then
  echo "process count is not $expected" >&2
  exit 1
fi

# Both at once, same pane size, same refresh. htop's -d is in tenths of a second.
"${tm[@]}" new-session -d -s dash -x "$cols" -y "$rows" \
  "$bin" --config "$cfg" --state-dir "$work/state" --refresh "$refresh_ms"
"${tm[@]}" new-session -d -s htop -x "$cols" -y "$rows" \
  env XDG_CONFIG_HOME="$work/htop" htop -d $((refresh_ms / 100))

# The process in the pane (or, if the pane runs a shell, its child).
pane_process() {
  local pid comm
  pid=$("${tm[@]}" display -p -t "$1" '#{pane_pid}')
  comm=$(cat "/proc/$pid/comm")
  case $comm in
    sh | bash | dash | env) pid=$(pgrep -P "$pid" | head -n 1) ;;
  esac
  comm=$(cat "/proc/$pid/comm")
  if [[ $comm != "$2" ]]; then
    echo "pane $1 runs $comm (pid $pid), not $2" >&2
    exit 1
  fi
  echo "$pid"
}
sleep "$settle"
dash_pid=$(pane_process dash sandbox-tui)
htop_pid=$(pane_process htop htop)

# utime+stime in clock ticks, fields 14 and 15 of /proc/PID/stat (counted
# after the ")" that ends the command name). Covers every thread.
cpu_ticks() {
  local stat rest
  stat=$(<"/proc/$1/stat")
  rest=${stat##*) }
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
host_busy_idle() { awk '/^cpu / { idle = $5 + $6; busy = 0; for (i = 2; i <= NF; i++) busy += $i; print busy - idle, idle }' /proc/stat; }

hz=$(getconf CLK_TCK)
read -r host_busy0 host_idle0 < <(host_busy_idle)
t0=$(date +%s%N)
dash0=$(cpu_ticks "$dash_pid")
htop0=$(cpu_ticks "$htop_pid")
dash_rss_sum=0 htop_rss_sum=0 dash_rss_max=0 htop_rss_max=0 samples=0
for _ in $(seq "$duration"); do
  sleep 1
  d=$(rss_kb "$dash_pid") h=$(rss_kb "$htop_pid")
  dash_rss_sum=$((dash_rss_sum + d)) htop_rss_sum=$((htop_rss_sum + h))
  ((d > dash_rss_max)) && dash_rss_max=$d
  ((h > htop_rss_max)) && htop_rss_max=$h
  samples=$((samples + 1))
done
dash1=$(cpu_ticks "$dash_pid")
htop1=$(cpu_ticks "$htop_pid")
t1=$(date +%s%N)
read -r host_busy1 host_idle1 < <(host_busy_idle)

screen=$("${tm[@]}" capture-pane -p -t dash)
htop_screen=$("${tm[@]}" capture-pane -p -t htop)
{
  echo "dashboard pane (first 8 lines):"
  head -n 8 <<<"$screen"
  shown=$(grep -o 'box[0-9]\+' <<<"$screen" | sort -u | wc -l || true)
  echo "dashboard shows $shown of $sandboxes sandbox names; header: $(grep -o '[0-9]* sandboxes' <<<"$screen" | head -n 1)"
  echo "htop: $(grep -o 'Tasks: [^;]*' <<<"$htop_screen" | head -n 1)"
  echo "host: $(nproc) cores, $(find /proc -maxdepth 1 -name '[0-9]*' | wc -l) processes"
} >&2
if [[ $shown -ne $sandboxes ]]; then
  echo "the dashboard does not show all $sandboxes sandboxes" >&2
  exit 1
fi

awk -v hz="$hz" -v ns=$((t1 - t0)) -v refresh="$refresh_ms" \
  -v dc=$((dash1 - dash0)) -v hc=$((htop1 - htop0)) \
  -v dr="$dash_rss_sum" -v hr="$htop_rss_sum" -v n="$samples" \
  -v dm="$dash_rss_max" -v hm="$htop_rss_max" \
  -v hb=$((host_busy1 - host_busy0)) -v hi=$((host_idle1 - host_idle0)) -v cores="$(nproc)" '
BEGIN {
  secs = ns / 1e9
  d = 100 * dc / hz / secs
  h = 100 * hc / hz / secs
  printf "window %.1f s, refresh %d ms, host busy %.0f%% of %d cores\n", secs, refresh, 100 * hb / (hb + hi), cores
  printf "%-12s %10s %12s %12s\n", "tool", "CPU %", "RSS MB avg", "RSS MB max"
  printf "%-12s %10.2f %12.1f %12.1f\n", "sandbox-tui", d, dr / n / 1024, dm / 1024
  printf "%-12s %10.2f %12.1f %12.1f\n", "htop", h, hr / n / 1024, hm / 1024
  if (h > 0) {
    r = d / h
    printf "dashboard/htop CPU: %.2fx (goal <= 0.50x): %s\n", r, (r <= 0.5 ? "met" : "NOT met")
  } else {
    printf "dashboard/htop CPU: htop used no measurable CPU in %.0f s\n", secs
  }
  printf "dashboard/htop RSS: %.2fx\n", (hr > 0 ? dr / hr : 0)
}'
