"""Each test gets its own state directory and a profiles file whose
cgroup_root is its own, as tests/common/mod.rs does for the Rust tests, so
nothing collides with other tests or with a real installation; teardown
kills what is left in those cgroups (only those) and removes them."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from sandbox_tui._cli import find_binary

_COUNTER = itertools.count()

PROFILES = r'''
[profiles.default]
timeout_seconds = 120

[profiles.small]
max_memory_mb = 64
timeout_seconds = 120

[profiles.guarded]
denied_patterns = ["os\\.system"]
timeout_seconds = 120
'''


class Env:
    def __init__(self, root: Path) -> None:
        self.cgroup_root = "sandbox-tui-pytest-%d-%d" % (os.getpid(), next(_COUNTER))
        self.state_dir = root / "state"
        self.config = root / "sandboxes.toml"
        self.config.write_text(
            '[settings]\ncgroup_root = "%s"\nstate_dir = "%s"\n%s'
            % (self.cgroup_root, self.state_dir, PROFILES)
        )
        self.binary = find_binary()
        self.kw: Dict[str, Any] = {"config": str(self.config), "state_dir": str(self.state_dir)}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, "--config", str(self.config), "--state-dir", str(self.state_dir)] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300,
        )

    def cgroup_dirs(self) -> List[Path]:
        base = Path("/sys/fs/cgroup")
        dirs = [d / self.cgroup_root for d in base.iterdir() if (d / self.cgroup_root).is_dir()] if base.is_dir() else []
        if (base / self.cgroup_root).is_dir() and base / self.cgroup_root not in dirs:
            dirs.append(base / self.cgroup_root)
        return dirs

    def pids(self) -> List[int]:
        found = set()
        for top in self.cgroup_dirs():
            for dirpath, _, files in os.walk(top):
                if "cgroup.procs" in files:
                    try:
                        found.update(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
                    except OSError:
                        pass
        return sorted(found)

    def cleanup(self) -> None:
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        for top in self.cgroup_dirs():
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        # The spare network namespace this cgroup_root's launches left.
        self.cli("prune")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("needs root: real sandboxes with cgroups")
    monkeypatch.delenv("SANDBOX_TUI_STATE_DIR", raising=False)
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


def sandbox_python_has_numpy() -> bool:
    return subprocess.run(["/usr/bin/python3", "-c", "import numpy"], capture_output=True).returncode == 0
