#!/usr/bin/env python3
"""The Python package against the executors the issue's seeds wrote by hand,
interleaved call by call, reported as ratios.

    python bench/python_api.py [--rounds N] [--big-rounds M] [--config FILE]

Run it with the Python of a venv where the package is installed
(`pip install .`); $SANDBOX_TUI_BIN picks another binary. The executors:

- sandbox_tui.execute_code: a fresh sandbox per call (the `default`
  profile: namespaces, cgroups, landlock, seccomp), the value as JSON;
- fork: a forked multiprocessing child (no isolation) that runs the code and
  hands the pickled value back through multiprocessing.shared_memory;
- subprocess: `python3 -c` per call (no isolation), the value as JSON on stdout;
- sandbox_tui.execute_code with a `warm = 2` profile: a sandbox started
  ahead (and replaced in the background after each call, each used once),
  the same isolation as execute_code; a large value comes back as a file
  (docs/python.md).

Small: `return 2 + 2`. Big: a 50 MB str, then 50 MB of bytes, returned
(max_result_mb raised for it). The load average is printed before and after:
the figures mean little on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import shared_memory

import sandbox_tui

SMALL = "return 2 + 2"
BIG = "return 'x' * (50 * 1000 * 1000)"
BIG_BYTES = "return b'x' * (50 * 1000 * 1000)"
RUNNER = (
    "import json, sys\n"
    "ns = {}\n"
    "exec('def f():\\n' + ''.join('    ' + l + '\\n' for l in sys.argv[1].splitlines()), ns)\n"
    "sys.stdout.write(json.dumps(ns['f']()))\n"
)


def body(code: str):
    ns: dict = {}
    exec("def f():\n" + "".join("    " + line + "\n" for line in code.splitlines()), ns)
    return ns["f"]


def fork_child(code: str, name: str, size_name: str) -> None:
    data = pickle.dumps(body(code)(), protocol=5)
    sizes = shared_memory.SharedMemory(name=size_name)
    sizes.buf[:8] = len(data).to_bytes(8, "little")
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[: len(data)] = data
    shm.close()
    sizes.close()


def run_fork(code: str, capacity: int):
    ctx = multiprocessing.get_context("fork")
    shm = shared_memory.SharedMemory(create=True, size=capacity)
    sizes = shared_memory.SharedMemory(create=True, size=8)
    try:
        child = ctx.Process(target=fork_child, args=(code, shm.name, sizes.name))
        child.start()
        child.join()
        n = int.from_bytes(sizes.buf[:8], "little")
        return pickle.loads(shm.buf[:n])
    finally:
        shm.close()
        shm.unlink()
        sizes.close()
        sizes.unlink()


def run_subprocess(code: str):
    out = subprocess.run([sys.executable, "-c", RUNNER, code], stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)


def run_sandbox(code: str, config: str, **kw):
    value, error = sandbox_tui.execute_code(code, config=config, **kw)
    if error is not None:
        raise error
    return value


def measure(executors, rounds):
    times = {name: [] for name in executors}
    for _ in range(rounds):
        for name, call in executors.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--big-rounds", type=int, default=10)
    parser.add_argument("--config", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = args.config
        if config is None:
            config = os.path.join(tmp, "sandboxes.toml")
            with open(config, "w") as f:
                f.write('[settings]\ncgroup_root = "sandbox-tui-bench-py"\nstate_dir = "%s/state"\n'
                        "[profiles.default]\n"
                        "[profiles.warm]\nwarm = 2\n"
                        "[profiles.warm_big]\nwarm = 1\nmax_result_mb = 64\n" % tmp)
        assert run_sandbox(SMALL, config) == 4 == run_fork(SMALL, 1 << 16) == run_subprocess(SMALL)

        print("binary: %s" % sandbox_tui.find_binary())
        print("load average before: %.2f %.2f %.2f" % os.getloadavg())
        assert run_sandbox(SMALL, config, profile="warm") == 4
        print("small value (%s), %d interleaved rounds, median per call:" % (SMALL, args.rounds))
        small = measure({
            "execute_code, warm = 2": lambda: run_sandbox(SMALL, config, profile="warm"),
            "sandbox_tui.execute_code": lambda: run_sandbox(SMALL, config),
            "fork + shared memory": lambda: run_fork(SMALL, 1 << 16),
            "subprocess per call": lambda: run_subprocess(SMALL),
        }, args.rounds)
        for name, t in small.items():
            print("  %-26s %8.2f ms" % (name, t * 1000))
        print("  ratio warm / fork:               %.2fx" % (small["execute_code, warm = 2"] / small["fork + shared memory"]))
        print("  ratio execute_code / fork:       %.2fx" % (small["sandbox_tui.execute_code"] / small["fork + shared memory"]))
        print("  ratio execute_code / subprocess: %.2fx" % (small["sandbox_tui.execute_code"] / small["subprocess per call"]))

        assert len(run_sandbox(BIG, config, profile="warm_big")) == 50 * 1000 * 1000
        print("50 MB str value, %d interleaved rounds, median per call:" % args.big_rounds)
        big = measure({
            "execute_code, warm = 1": lambda: run_sandbox(BIG, config, profile="warm_big"),
            "sandbox_tui.execute_code": lambda: run_sandbox(BIG, config, settings={"max_result_mb": 64}),
            "fork + shared memory": lambda: run_fork(BIG, 64 << 20),
        }, args.big_rounds)
        for name, t in big.items():
            print("  %-26s %8.2f ms" % (name, t * 1000))
        print("  ratio warm / shared memory:         %.2fx" % (big["execute_code, warm = 1"] / big["fork + shared memory"]))
        print("  ratio execute_code / shared memory: %.2fx" % (big["sandbox_tui.execute_code"] / big["fork + shared memory"]))
        print("50 MB bytes value, %d interleaved rounds, median per call:" % args.big_rounds)
        big = measure({
            "execute_code, warm = 1": lambda: run_sandbox(BIG_BYTES, config, profile="warm_big"),
            "fork + shared memory": lambda: run_fork(BIG_BYTES, 64 << 20),
        }, args.big_rounds)
        for name, t in big.items():
            print("  %-26s %8.2f ms" % (name, t * 1000))
        print("  ratio warm / shared memory:         %.2fx" % (big["execute_code, warm = 1"] / big["fork + shared memory"]))
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
        sandbox_tui._api._close_pools()
        subprocess.run([sandbox_tui.find_binary(), "--config", config, "prune"], stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
