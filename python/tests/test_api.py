"""The Python package against real sandboxes: every API, every exception."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sysconfig
import time

import pytest

import sandbox_tui as st
from sandbox_tui._cli import find_binary

from conftest import sandbox_python_has_numpy
from helpers import square_root_plus

try:
    import numpy as np
except ImportError:  # the host side of the numpy tests
    np = None

needs_numpy = pytest.mark.skipif(
    np is None or not sandbox_python_has_numpy(),
    reason="numpy is needed on the host (pip) and in the sandbox (apt python3-numpy)",
)

# ------------------------------------------------------------------ the binary


def test_binary_is_found_in_the_scripts_directory_then_path(monkeypatch):
    if os.environ.get("SANDBOX_TUI_BIN"):
        pytest.skip("SANDBOX_TUI_BIN points the tests at another binary")
    found = find_binary()
    assert os.path.dirname(found) == sysconfig.get_path("scripts")
    init = os.path.join(os.path.dirname(found), "sandbox-tui-init")
    assert os.access(init, os.X_OK), "the wheel installs the init beside the binary"


def test_binary_override_is_used(monkeypatch, env):
    monkeypatch.setenv("SANDBOX_TUI_BIN", "/nonexistent/sandbox-tui")
    value, error = st.execute_code("return 1", **env.kw)
    assert type(error) is st.SandboxError
    assert "/nonexistent/sandbox-tui" in str(error)


# ------------------------------------------------------------------ execute_code


def test_execute_code_returns_the_value(env):
    assert st.execute_code("return 2 + 2", **env.kw) == (4, None)


def test_execute_code_returns_a_builtin_exception_with_the_remote_traceback(env):
    result, error = st.execute_code("x = 1\nreturn x / 0", **env.kw)
    assert result is None
    assert type(error) is ZeroDivisionError
    assert str(error) == "division by zero"
    remote = error.__cause__
    assert isinstance(remote, st.RemoteError)
    assert remote.type == "ZeroDivisionError"
    assert 'File "<snippet>", line 2' in remote.traceback


def test_execute_code_other_exception_types_are_remote_errors(env):
    code = "class Custom(Exception):\n    pass\nraise Custom('mine')"
    result, error = st.execute_code(code, **env.kw)
    assert isinstance(error, st.RemoteError)
    assert (error.type, error.message) == ("Custom", "mine")
    assert "raise Custom('mine')" in error.traceback


def test_integers_come_back_exact(env):
    value, error = st.execute_code("return [2**200, -(3**99), {'n': 10**30 + 1}]", **env.kw)
    assert error is None
    assert value == [2**200, -(3**99), {"n": 10**30 + 1}]


def test_integers_over_4300_digits_come_back_exact(env):
    # Python 3.11+ neither writes nor reads such an int unless told.
    value, error = st.execute_code("return [10**5000, -(10**5000)]", **env.kw)
    assert error is None
    assert value == [10**5000, -(10**5000)]


def test_values_json_cannot_hold_come_back_as_repr_never_as_objects(env, tmp_path):
    marker = tmp_path / "unpickled"
    # Were this value ever unpickled on the host, it would make the marker file.
    code = (
        "class Evil:\n"
        "    def __reduce__(self):\n"
        "        return (open, (%r, 'w'))\n"
        "    def __repr__(self):\n"
        "        return 'Evil()'\n"
        "return Evil()" % str(marker)
    )
    value, error = st.execute_code(code, **env.kw)
    assert error is None
    assert value == st.NonJSONValue(repr="Evil()", type="Evil")
    assert not marker.exists()
    value, error = st.execute_code("return {1, 2}", **env.kw)
    assert value == st.NonJSONValue(repr="{1, 2}", type="set")


def test_printing_does_not_change_the_result(env):
    assert st.execute_code("print('{\"result\": 5}')\nreturn 1", **env.kw) == (1, None)


def test_timeout_is_enforced(env):
    value, error = st.execute_code("while True:\n    pass", timeout=1, **env.kw)
    assert value is None
    assert isinstance(error, st.SandboxTimeout)
    assert error.result["status"] == "timeout"


def test_memory_override_is_enforced(env):
    code = "blocks = [bytearray(16 * 2**20) for _ in range(16)]\nreturn len(blocks)"
    assert st.execute_code(code, **env.kw) == (16, None)
    value, error = st.execute_code(code, memory_mb=64, **env.kw)
    assert isinstance(error, st.SandboxMemoryLimit)
    assert error.result["status"] == "memory_limit"


def test_memory_limit_of_the_profile(env):
    code = "blocks = [bytearray(16 * 2**20) for _ in range(32)]\nreturn 1"
    value, error = st.execute_code(code, profile="small", **env.kw)
    assert isinstance(error, st.SandboxMemoryLimit)


def test_cpu_override_is_enforced(env):
    value, error = st.execute_code("while True:\n    pass", cpu_seconds=1, timeout=120, **env.kw)
    assert isinstance(error, st.SandboxCpuLimit)
    assert isinstance(error, st.SandboxTimeout)
    assert error.result["status"] == "cpu_limit"


def test_settings_override_any_profile_key(env):
    code = "import os\nreturn os.environ.get('GREETING')"
    assert st.execute_code(code, settings={"env": {"GREETING": "hi"}}, **env.kw) == ("hi", None)
    value, error = st.execute_code("return 1", settings={"denied_patterns": ["return"]}, **env.kw)
    assert isinstance(error, st.SandboxDenied)


def test_bad_override_is_refused_naming_the_key(env):
    value, error = st.execute_code("return 1", memory_mb=0, **env.kw)
    assert type(error) is st.SandboxError
    assert "max_memory_mb" in str(error) and "at least 1" in str(error)
    value, error = st.execute_code("return 1", settings={"no_such_key": 1}, **env.kw)
    assert "no_such_key" in str(error) and "unknown key" in str(error)
    value, error = st.execute_code("return 1", settings={"max_memory_mb": "lots"}, **env.kw)
    assert "max_memory_mb" in str(error)


def test_denied_by_policy(env):
    value, error = st.execute_code("import os\nos.system('true')", profile="guarded", **env.kw)
    assert isinstance(error, st.SandboxDenied)
    assert "denied_patterns" in str(error)


def test_unknown_profile_is_an_error(env):
    value, error = st.execute_code("return 1", profile="nope", **env.kw)
    assert type(error) is st.SandboxError
    assert "nope" in str(error)


def test_executions_from_python_are_in_the_shared_state(env):
    st.execute_code("return 'seen'", **env.kw)
    listed = json.loads(env.cli("--json", "ps").stdout)
    assert [e["kind"] for e in listed] == ["python"]
    assert listed[0]["result"]["result"] == "seen"


# ------------------------------------------------------------------ SandboxExecutor


class Counter:
    """A worker with state."""

    def __init__(self, start):
        self.count = start
        self.history = {"made": start}

    def add(self, n, times=1):
        self.count += n * times
        return {"count": self.count, "history": self.history, "big": self.count ** 10}

    def fail(self):
        raise KeyError("missing " + str(self.count))

    def spin(self):
        while True:
            pass

    def math_of(self, x):
        return math.floor(x) + self.count


def test_secure_execute_sends_state_and_arguments(env):
    worker = Counter(7)
    ex = st.SandboxExecutor(worker, **env.kw)
    value = ex.secure_execute("add", method_args=(5,), method_kwargs={"times": 2})
    assert value == {"count": 17, "history": {"made": 7}, "big": 17 ** 10}
    assert ex.secure_execute("math_of", method_args=(2.5,)) == 9
    # The sandbox's copy changed; the host's object did not.
    assert worker.count == 7


def test_secure_execute_raises_remote_error(env):
    ex = st.SandboxExecutor(Counter(3), **env.kw)
    with pytest.raises(st.RemoteError) as info:
        ex.secure_execute("fail")
    assert info.value.type == "KeyError"
    assert "missing 3" in info.value.message
    assert "in fail" in info.value.traceback


def test_secure_execute_timeout(env):
    ex = st.SandboxExecutor(Counter(0), **env.kw)
    with pytest.raises(st.SandboxTimeout):
        ex.secure_execute("spin", timeout_seconds=1)


def test_secure_execute_unknown_method(env):
    with pytest.raises(st.SandboxError):
        st.SandboxExecutor(Counter(0), **env.kw).secure_execute("nope")


class ArrayWorker:
    def __init__(self, data):
        self.data = data

    def scaled(self, factor):
        import numpy
        return {"array": self.data * factor, "sum": numpy.int64(self.data.sum()), "shape": self.data.shape}


@needs_numpy
def test_numpy_arrays_travel_as_npy_both_ways(env):
    data = np.arange(12, dtype=np.int64).reshape(3, 4)
    ex = st.SandboxExecutor(ArrayWorker(data), **env.kw)
    value = ex.secure_execute("scaled", method_args=(np.float64(0.5),))
    assert isinstance(value["array"], np.ndarray)
    assert value["array"].dtype == np.float64
    np.testing.assert_array_equal(value["array"], data * 0.5)
    assert value["sum"] == 66
    assert value["shape"] == [3, 4]


# ------------------------------------------------------------------ sandbox_run


def test_sandbox_run_function_with_module_globals_and_imports(env):
    remote = st.sandbox_run(square_root_plus, **env.kw)
    assert remote(17, bonus=2) == 24
    assert remote.__name__ == "square_root_plus"


@st.sandbox_run(timeout=1)
def decorated_spin():
    while True:
        pass


@st.sandbox_run
def decorated_plain(x):
    return {"twice": [x, x]}


def test_sandbox_run_decorator_with_and_without_arguments(env, monkeypatch):
    # Decorated without a config: the CLI finds ./sandboxes.toml, this test's.
    monkeypatch.chdir(env.config.parent)
    assert decorated_plain(2**70) == {"twice": [2**70, 2**70]}
    with pytest.raises(st.SandboxTimeout):
        decorated_spin()


def module_level_spin():
    while True:
        pass


def module_level_divide(a, b):
    return a // b


def test_sandbox_run_timeout_and_remote_error(env):
    with pytest.raises(st.SandboxTimeout):
        st.sandbox_run(module_level_spin, timeout=1, **env.kw)()
    with pytest.raises(st.RemoteError) as info:
        st.sandbox_run(module_level_divide, **env.kw)(1, 0)
    assert info.value.type == "ZeroDivisionError"


def test_sandbox_run_refuses_closures_and_lambdas():
    factor = 3

    def scaled(x):
        return x * factor

    with pytest.raises(st.SandboxError, match="closure over factor"):
        st.sandbox_run(scaled)
    with pytest.raises(st.SandboxError, match="lambda"):
        st.sandbox_run(lambda x: x)

    def nested(x):
        return x

    with pytest.raises(st.SandboxError, match="inside another function"):
        st.sandbox_run(nested)


class Account:
    def __init__(self, balance):
        self.balance = balance

    @st.sandbox_run(timeout=60)
    def deposit(self, amount):
        self.balance += amount
        return self.balance


def test_sandbox_run_on_a_method(env, monkeypatch):
    monkeypatch.chdir(env.config.parent)
    acct = Account(100)
    assert acct.deposit(5) == 105
    assert acct.balance == 100


def test_missing_module_in_the_sandbox_is_a_remote_error(env):
    code = "import no_such_module_for_sure\nreturn 1"
    value, error = st.execute_code(code, **env.kw)
    assert isinstance(error, ModuleNotFoundError)


# ------------------------------------------------------------------ map


def test_map_one_outcome_per_item_with_failures_per_item(env):
    outcomes = st.map(module_level_divide_ten, [1, 0, 5, "x"], concurrency=2, **env.kw)
    assert len(outcomes) == 4
    assert outcomes[0] == (10, None)
    assert outcomes[1].value is None and type(outcomes[1].error) is ZeroDivisionError
    assert outcomes[2] == (2, None)
    assert type(outcomes[3].error) is TypeError


def module_level_divide_ten(x):
    return 10 // x


def test_map_timeouts_are_per_item(env):
    outcomes = st.map(maybe_spin, [False, True], concurrency=2, timeout=2, **env.kw)
    assert outcomes[0] == ("done", None)
    assert isinstance(outcomes[1].error, st.SandboxTimeout)


def maybe_spin(spin):
    while spin:
        pass
    return "done"


# ------------------------------------------------------------------ asyncio


def test_async_execute_code_concurrently(env):
    async def main():
        return await asyncio.gather(*(st.aexecute_code("return %d * 2" % i, **env.kw) for i in range(3)))

    assert asyncio.run(main()) == [(0, None), (2, None), (4, None)]


def test_async_errors_and_limits(env):
    async def main():
        return await asyncio.gather(
            st.aexecute_code("return 1 / 0", **env.kw),
            st.aexecute_code("while True:\n    pass", timeout=1, **env.kw),
        )

    (v1, e1), (v2, e2) = asyncio.run(main())
    assert type(e1) is ZeroDivisionError
    assert isinstance(e2, st.SandboxTimeout)


def test_async_cancel_ends_the_execution(env):
    async def main():
        task = asyncio.create_task(st.aexecute_code("import time\ntime.sleep(600)", **env.kw))
        for _ in range(600):
            listed = json.loads(env.cli("--json", "ps").stdout or b"[]")
            if listed and listed[0]["status"] == "running":
                break
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    for _ in range(600):
        status = json.loads(env.cli("--json", "ps").stdout)[0]["status"]
        if status != "running":
            break
        time.sleep(0.1)
    assert status == "killed"


def test_async_executor_function_and_map(env):
    async def main():
        ex = st.SandboxExecutor(Counter(1), **env.kw)
        a = await ex.asecure_execute("add", method_args=(2,))
        b = await st.sandbox_run(module_level_divide, **env.kw).aio(9, 2)
        c = await st.amap(module_level_divide_ten, [2, 0], concurrency=2, **env.kw)
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a["count"] == 3
    assert b == 4
    assert c[0] == (5, None) and type(c[1].error) is ZeroDivisionError


# ------------------------------------------------------------------ Sandbox


def test_sandbox_exec_files_cp_and_rm(env, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("hello from the host\n")
    with st.Sandbox("pybox", **env.kw) as box:
        box.exec(["mkdir", "data"])
        assert box.cp_in(src, "data/in.txt")["bytes"] == len("hello from the host\n")
        r = box.exec("cat data/in.txt; echo out > made.txt; echo err >&2; exit 3")
        assert r.status == "failed" and r.exit_code == 3
        assert r.stdout == b"hello from the host\n" and r.stderr == b"err\n"
        names = {f["name"]: f["type"] for f in box.files()}
        assert names == {"data": "dir", "made.txt": "file"}
        assert [f["name"] for f in box.files("data")] == ["in.txt"]
        box.cp_out("made.txt", tmp_path / "made.txt")
        assert (tmp_path / "made.txt").read_text() == "out\n"
        # The workspace persists between calls.
        assert box.python("return open('made.txt').read()") == "out\n"
        with pytest.raises(st.RemoteError):
            box.python("return 1 / 0")
        assert box.exec(["true"]).status == "completed"
        assert [e["sandbox"] for e in box.ps()] == ["pybox"] * len(box.ps())
    listed = [s["name"] for s in json.loads(env.cli("--json", "ls").stdout)]
    assert "pybox" not in listed


def test_sandbox_cp_refuses_a_symlink_out_of_the_workspace(env, tmp_path):
    with st.Sandbox("linkbox", **env.kw) as box:
        box.exec(["ln", "-s", "/etc/hostname", "escape"])
        with pytest.raises(st.SandboxError):
            box.cp_out("escape", tmp_path / "stolen")
        assert not (tmp_path / "stolen").exists()


def test_sandbox_kill_and_timeout(env):
    with st.Sandbox("killbox", **env.kw) as box:
        ex_id = box.start(["sleep", "600"])
        for _ in range(600):
            if box.ps()[0]["status"] == "running":
                break
            time.sleep(0.1)
        killed = box.kill()
        assert ex_id in [k["id"] for k in killed]
        assert box.wait(ex_id).status == "killed"
        r = box.exec(["sleep", "600"], timeout=1)
        assert r.status == "timeout"
        with pytest.raises(st.SandboxTimeout):
            box.python("while True:\n    pass", timeout=1)


def test_sandbox_exists_already(env):
    with st.Sandbox("dupbox", **env.kw):
        with pytest.raises(st.SandboxError, match="dupbox"):
            st.Sandbox("dupbox", **env.kw).create()
        with st.Sandbox("dupbox", exist_ok=True, remove=False, **env.kw) as again:
            assert again.exec(["true"]).status == "completed"


def test_sandbox_memory_limit_from_profile(env):
    with st.Sandbox("smallbox", profile="small", **env.kw) as box:
        with pytest.raises(st.SandboxMemoryLimit):
            box.python("b = [bytearray(16 * 2**20) for _ in range(32)]\nreturn 1")
        assert box.exec(["sh", "-c", "exit 0"]).status == "completed"


def test_sandbox_limits_overridden_at_creation(env):
    hog = "b = [bytearray(16 * 2**20) for _ in range(16)]\nreturn len(b)"
    with st.Sandbox("bigbox", **env.kw) as box:
        assert box.python(hog) == 16
    with st.Sandbox("tightbox", memory_mb=64, settings={"env": {"MODE": "t"}}, **env.kw) as box:
        with pytest.raises(st.SandboxMemoryLimit):
            box.python(hog)
        assert box.exec("echo $MODE").stdout == b"t\n"
    with pytest.raises(st.SandboxError, match="max_memory_mb"):
        st.Sandbox("badbox", memory_mb=0, **env.kw).create()


@needs_numpy
def test_a_forged_array_from_the_sandbox_is_an_error_not_an_object(env):
    # A snippet can return the array tag itself: only .npy without pickle is read.
    forged = "return {'__sandbox_tui_ndarray__': 'bm90IGFuIG5weSBmaWxl'}"
    value, error = st.execute_code(forged, **env.kw)
    assert type(error) is st.SandboxError and "malformed array" in str(error)
    code = (
        "import io, numpy\n"
        "buf = io.BytesIO()\n"
        "numpy.save(buf, numpy.array([{'a': 1}], dtype=object), allow_pickle=True)\n"
        "import base64\n"
        "return {'__sandbox_tui_ndarray__': base64.b64encode(buf.getvalue()).decode()}"
    )
    value, error = st.execute_code(code, **env.kw)
    assert type(error) is st.SandboxError and "malformed array" in str(error)
