"""The warm pool: the same contract as execute_code, a fresh sandbox per call."""

from __future__ import annotations

import json
import time

import pytest

import sandbox_tui as st


def statuses(env):
    return [e["status"] for e in json.loads(env.cli("--json", "ps").stdout)]


def test_pool_values_errors_and_exact_integers(env):
    with st.WarmPool(size=2, preload=["json"], **env.kw) as pool:
        assert pool.execute_code("return 2 + 2") == (4, None)
        assert pool.execute_code("print('{\"ok\": true, \"result\": 5}')\nreturn 2**100") == (2**100, None)
        value, error = pool.execute_code("x = 1\nreturn x / 0")
        assert type(error) is ZeroDivisionError
        assert 'File "<snippet>", line 2' in error.__cause__.traceback
        value, error = pool.execute_code("raise KeyError('k')")
        assert type(error) is KeyError
        assert pool.execute_code("return {1, 2}") == (st.NonJSONValue(repr="{1, 2}", type="set"), None)
        assert pool.execute_code("return -(10**5000)") == (-(10**5000), None)


def test_pool_uses_each_sandbox_once(env):
    with st.WarmPool(size=1, **env.kw) as pool:
        for _ in range(3):
            code = "import os\nseen = os.path.exists('/tmp/used')\nopen('/tmp/used', 'w').close()\nreturn seen"
            assert pool.execute_code(code) == (False, None)


def test_pool_calls_from_threads(env):
    import concurrent.futures

    with st.WarmPool(size=2, **env.kw) as pool:
        with concurrent.futures.ThreadPoolExecutor(4) as threads:
            results = list(threads.map(lambda i: pool.execute_code("return %d" % i), range(6)))
    assert results == [(i, None) for i in range(6)]


def test_pool_timeout_memory_and_cpu_limits(env):
    with st.WarmPool(size=1, memory_mb=64, cpu_seconds=1, **env.kw) as pool:
        value, error = pool.execute_code("import time\ntime.sleep(600)", timeout=1)
        assert isinstance(error, st.SandboxTimeout)
        value, error = pool.execute_code("b = [bytearray(16 * 2**20) for _ in range(16)]\nreturn 1")
        assert isinstance(error, st.SandboxMemoryLimit)
        value, error = pool.execute_code("while True:\n    pass", timeout=120)
        assert isinstance(error, st.SandboxCpuLimit)
        assert pool.execute_code("return 'still works'") == ("still works", None)


def test_pool_refuses_profiles_whose_policy_reads_the_code(env):
    with pytest.raises(st.SandboxError, match="denied_patterns"):
        st.WarmPool(size=1, profile="guarded", **env.kw)


def test_pool_bad_override_is_the_calls_error(env):
    with st.WarmPool(size=1, memory_mb=0, **env.kw) as pool:
        value, error = pool.execute_code("return 1")
        assert type(error) is st.SandboxError
        assert "max_memory_mb" in str(error)


def test_pool_executions_are_in_the_state_and_close_ends_the_waiting_ones(env):
    pool = st.WarmPool(size=2, **env.kw)
    assert pool.execute_code("return 1") == (1, None)
    pool.close()
    with pytest.raises(st.SandboxError):
        pool._call("return 1", None)
    for _ in range(600):
        listed = statuses(env)
        if "running" not in listed and "queued" not in listed:
            break
        time.sleep(0.1)
    assert "completed" in listed
    assert "running" not in listed


def test_pool_async(env):
    import asyncio

    async def main(pool):
        return await asyncio.gather(*(pool.aexecute_code("return %d" % i) for i in range(3)))

    with st.WarmPool(size=2, **env.kw) as pool:
        assert asyncio.run(main(pool)) == [(0, None), (1, None), (2, None)]
