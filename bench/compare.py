#!/usr/bin/env python3
"""Two builds of sandbox-tui against each other and bubblewrap, interleaved.

    bench/compare.py OLD_BINARY NEW_BINARY [ROUNDS]

Each round launches `run -p strict -- /bin/true` with each binary and the
issue's bubblewrap command once, one after the other, so that all three see
the same machine (this VM's speed drifts by 10% within an hour). Each binary
gets its own temporary state directory and `cgroup_root`, so neither takes
the other's spare network namespace. Run as root, from the repository's
root (the profiles are this checkout's sandboxes.toml). Build an old
commit's binary with `git worktree add /tmp/old REV && (cd /tmp/old &&
cargo build --release --locked)`.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def config(work, tag):
    """The bundled profiles, with a state dir and cgroup root of their own."""
    with open("sandboxes.toml") as f:
        text = re.sub(r"(?ms)^\[settings\].*?(?=^\[)", "", f.read())
    path = os.path.join(work, f"{tag}.toml")
    with open(path, "w") as f:
        f.write(f'[settings]\ncgroup_root = "bench-compare-{tag}"\n'
                f'state_dir = "{work}/state-{tag}"\n\n{text}')
    return path


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 150
    work = tempfile.mkdtemp(prefix="sandbox-tui-compare-")
    configs = {}
    try:
        commands = {}
        for tag, binary in (("old", sys.argv[1]), ("new", sys.argv[2])):
            configs[tag] = (binary, config(work, tag))
            commands[tag] = [binary, "--config", configs[tag][1], "run", "-p", "strict", "--", "/bin/true"]
        commands["bwrap"] = ("bwrap --unshare-all --die-with-parent --ro-bind / / "
                             "--dev /dev --proc /proc --tmpfs /tmp /bin/true").split()
        run = lambda argv: subprocess.run(argv, check=True, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL)
        for _ in range(5):  # warm the page cache and the spare namespaces
            for argv in commands.values():
                run(argv)
        times = {tag: [] for tag in commands}
        for _ in range(rounds):
            for tag, argv in commands.items():
                start = time.perf_counter()
                run(argv)
                times[tag].append((time.perf_counter() - start) * 1000)
        base = statistics.median(times["bwrap"])
        print(f"{rounds} interleaved rounds, load average {os.getloadavg()[0]:.2f}:")
        for tag, values in times.items():
            median = statistics.median(values)
            print(f"  {tag:6} median {median:6.2f} ms   x bwrap {median / base:4.2f}")
    finally:
        # `prune` also removes the network namespace each left for the next.
        for binary, path in configs.values():
            subprocess.run([binary, "--config", path, "prune"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
