"""warm = N in a profile: execute_code and friends take a started sandbox
from a per-process pool, each used for one call; large values travel as a
file the host reads with the care it gives anything a sandbox left."""

from __future__ import annotations

import json
import os
import time

import pytest

import sandbox_tui as st
from sandbox_tui import _api, _pool

from conftest import sandbox_python_has_numpy

WARM_PROFILES = r'''
[profiles.warm]
warm = 2
timeout_seconds = 120
max_result_mb = 64

[profiles.warm_tiny]
warm = 1
timeout_seconds = 120
max_result_mb = 1

[profiles.warm_guarded]
warm = 1
denied_patterns = ["os\\.system"]
timeout_seconds = 120
'''

MB50 = 50 * 1000 * 1000


@pytest.fixture
def wenv(env):
    with open(env.config, "a") as f:
        f.write(WARM_PROFILES)
    try:
        yield env
    finally:
        _api._close_pools()


def executions(env):
    return json.loads(env.cli("--json", "ps").stdout)


def pool_of(env, profile):
    return _api._POOLS[_api._pool_key(_api._Options(profile, config=env.kw["config"], state_dir=env.kw["state_dir"]))]


def test_warm_profile_uses_a_pool_and_each_sandbox_once(wenv):
    # Each call leaves files in /tmp and in its workspace: a sandbox is never
    # reused, so the next call finds neither.
    code = (
        "import os\n"
        "seen = [os.path.exists(p) for p in ('/tmp/used', '/workspace/used')]\n"
        "open('/tmp/used', 'w').close()\n"
        "open('/workspace/used', 'w').close()\n"
        "return seen"
    )
    for _ in range(4):
        assert st.execute_code(code, profile="warm", **wenv.kw) == ([False, False], None)
    pool = pool_of(wenv, "warm")
    assert isinstance(pool, st.WarmPool) and pool.size == 2
    # Launched as the pool's loader, not as a snippet: the pool served them.
    commands = [e["command"] for e in executions(wenv)]
    assert sum(1 for c in commands if "-c" in c) >= 4
    assert not any(a.startswith("<snippet: ") for c in commands for a in c)


def test_warm_pool_refills_in_the_background(wenv):
    assert st.execute_code("return 1", profile="warm", **wenv.kw) == (1, None)
    pool = pool_of(wenv, "warm")
    for _ in range(3):
        assert st.execute_code("return 2", profile="warm", **wenv.kw) == (2, None)
    deadline = time.monotonic() + 300
    while len(pool._ready) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pool._ready) == 2


def test_profile_without_warm_takes_the_cold_path(wenv):
    assert st.execute_code("return 3", **wenv.kw) == (3, None)
    assert pool_of(wenv, "default") is None
    assert any("<snippet: return 3>" in " ".join(e["command"]) for e in executions(wenv))
    # denied_patterns reads the code at launch: such a profile is never pooled.
    value, error = st.execute_code("import os\nos.system('true')", profile="warm_guarded", **wenv.kw)
    assert isinstance(error, st.SandboxDenied)
    assert pool_of(wenv, "warm_guarded") is None


def test_warm_profile_serves_sandbox_run_and_asyncio(wenv):
    import asyncio

    from helpers import square_root_plus

    f = st.sandbox_run(square_root_plus, profile="warm", **wenv.kw)
    assert f(17, bonus=2) == 24
    assert asyncio.run(st.aexecute_code("return 5", profile="warm", **wenv.kw)) == (5, None)
    value, error = st.execute_code("return 1 / 0", profile="warm", **wenv.kw)
    assert type(error) is ZeroDivisionError


def test_large_bytes_and_str_round_trip_exactly(wenv):
    code = "import random\nrandom.seed(7)\nreturn random.randbytes(%d)" % MB50
    value, error = st.execute_code(code, profile="warm", **wenv.kw)
    import random
    random.seed(7)
    assert error is None and type(value) is bytes and value == random.randbytes(MB50)
    value, error = st.execute_code("return 'é' + 'x' * %d + '\\ud800'" % (MB50 - 2), profile="warm", **wenv.kw)
    assert error is None and value == "é" + "x" * (MB50 - 2) + "\ud800"
    # Small bytes stay as before (a repr); small str as JSON.
    assert st.execute_code("return 'ab'", profile="warm", **wenv.kw) == ("ab", None)


@pytest.mark.skipif(not sandbox_python_has_numpy(), reason="numpy not installed for the sandbox's python3")
def test_large_numpy_array_round_trips_exactly(wenv):
    numpy = pytest.importorskip("numpy")
    code = "import numpy\nreturn numpy.arange(%d, dtype='<f8').reshape(2500, 2500).T" % (2500 * 2500)
    value, error = st.execute_code(code, profile="warm", **wenv.kw)
    assert error is None
    expected = numpy.arange(2500 * 2500, dtype="<f8").reshape(2500, 2500).T
    assert value.dtype == expected.dtype and value.shape == expected.shape
    assert numpy.array_equal(value, expected)
    value[0, 0] = 1.0  # the host's own copy
    code = "import numpy\nreturn numpy.full(%d, 7, dtype=numpy.uint8)" % MB50
    value, error = st.execute_code(code, profile="warm", **wenv.kw)
    assert error is None and value.shape == (MB50,) and int(value.sum()) == 7 * MB50


def test_value_over_max_result_mb_is_refused(wenv):
    for code in ["return b'x' * (2 * 2**20)", "return 'x' * (2 * 2**20)", "return ['x' * (2 * 2**20)]"]:
        value, error = st.execute_code(code, profile="warm_tiny", **wenv.kw)
        assert type(error) is st.SandboxError, code
        assert "ResultTooLarge" in str(error) and "max_result_mb = 1 MB" in str(error), str(error)


# A snippet that bypasses the loader: it plants something where the value
# file is read, announces it on the loader's own channel and ends.
PLANT = (
    "import os, sys\n"
    "m = sys.modules['__main__']\n"
    "path = os.path.join(m.value_dir, 'value')\n"
    "%s\n"
    "m.out.write('{\"ok\": true, \"file\": {\"type\": \"bytes\", \"size\": %d}}\\n')\n"
    "m.out.flush()\n"
    "os._exit(0)\n"
)


def test_a_planted_symlink_fifo_or_oversized_file_is_an_error_never_a_host_file(wenv, tmp_path, monkeypatch):
    values = tmp_path / "values"
    values.mkdir()
    monkeypatch.setattr(_pool, "_value_dir_parent", lambda: str(values))
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    cases = [
        ("os.symlink(%r, path)" % str(secret), len(b"host secret"), "cannot be read safely"),
        ("os.mkfifo(path)", 11, "not a regular file"),
        ("open(path, 'wb').write(b'y' * 100)", 11, "not the 11 it announced"),
        ("open(path, 'wb').write(b'y' * (70 * 2**20))", 70 * 2**20, "ResultTooLarge"),
    ]
    for plant, size, message in cases:
        start = time.monotonic()
        value, error = st.execute_code(PLANT % (plant, size), profile="warm", **wenv.kw)
        assert value is None, plant
        assert isinstance(error, st.SandboxError) and message in str(error), (plant, error)
        assert time.monotonic() - start < 100  # a FIFO is never waited on
    assert secret.read_bytes() == b"host secret"
    # Each value directory goes with its sandbox, whatever was planted in it.
    _api._close_pools()
    assert os.listdir(values) == []
