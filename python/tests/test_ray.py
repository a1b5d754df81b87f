"""backend="ray": calls as jobs on a Ray cluster (docs/ray.md).

Against the cluster $SANDBOX_TUI_RAY_ADDRESS names, else one started here
with .ci/ray-env (a head and a second node on this machine, running the
binary under test) when this Python has Ray. Skipped when Ray is not
installed, except with SANDBOX_TUI_REQUIRE_ISOLATION=1, where that fails."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import sandbox_tui as st
from sandbox_tui._cli import find_binary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    address = os.environ.get("SANDBOX_TUI_RAY_ADDRESS")
    if address:
        yield address
        return
    if importlib.util.find_spec("ray") is None:
        reason = "Ray is not installed in this Python (pip install 'ray[default]')"
        if os.environ.get("SANDBOX_TUI_REQUIRE_ISOLATION") in ("1", "true"):
            pytest.fail(reason + " and SANDBOX_TUI_REQUIRE_ISOLATION=1")
        pytest.skip(reason)
    # A private cluster for this module; it stops when its stdin closes.
    bin_dir = str(Path(find_binary()).parent)
    venv = str(Path(sys.executable).parent.parent)
    proc = subprocess.Popen(
        ["bash", "-c", 'source .ci/ray-env && ray_env_start "$1" && echo "$SANDBOX_TUI_RAY_ADDRESS" && read _',
         "ray-env", bin_dir],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, RAY_ENV_VENV=venv),
    )
    assert proc.stdout is not None and proc.stdin is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.wait()
        pytest.fail("the private Ray cluster did not start (.ci/ray-env printed why)")
    try:
        yield address
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)


class Counter:
    def __init__(self) -> None:
        self.n = 10

    def add(self, k: int) -> int:
        self.n += k
        return self.n


def test_execute_code_runs_on_the_cluster(env, ray_address: str) -> None:
    kw = dict(config=env.kw["config"], backend="ray", cluster=ray_address, token="unused-token")
    assert st.execute_code("return 6 * 7", **kw) == (42, None)
    value, error = st.execute_code("return 1 / 0", **kw)
    assert value is None and isinstance(error, ZeroDivisionError)
    # Limits hold on the node: the wall-clock timeout.
    value, error = st.execute_code("import time\ntime.sleep(60)", timeout=1, **kw)
    assert isinstance(error, st.SandboxError) and "timeout" in str(error), error


def test_an_executor_calls_methods_on_the_cluster(env, ray_address: str) -> None:
    executor = st.SandboxExecutor(Counter(), config=env.kw["config"], backend="ray", cluster=ray_address)
    assert executor.secure_execute("add", [5]) == 15


def test_backend_and_cluster_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_TUI_CLUSTER", raising=False)
    with pytest.raises(ValueError, match="backend"):
        st.execute_code("return 1", backend="docker")
    with pytest.raises(ValueError, match="cluster"):
        st.execute_code("return 1", backend="ray")
    with pytest.raises(ValueError, match="backend"):
        st.execute_code("return 1", cluster="ray://h:8265")
