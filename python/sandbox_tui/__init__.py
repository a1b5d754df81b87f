"""sandbox_tui: run untrusted Python and commands in real Linux sandboxes.

A thin, typed layer over the ``sandbox-tui`` binary that this package
installs (found in the environment's scripts directory, then on ``PATH``;
``$SANDBOX_TUI_BIN`` overrides both). Every call is an ordinary execution
of that binary, so it shows in the dashboard and in ``sandbox-tui ps``.

Values come back from a sandbox as JSON (exact integers), numpy arrays as
``.npy`` read with ``allow_pickle=False``, and a large bytes, str or array
from a warm sandbox (``warm = N`` in the profile) as a raw file checked
before it is read: nothing a sandbox produces is ever unpickled on the host.
"""

from ._api import (
    ExecResult,
    NonJSONValue,
    Outcome,
    Sandbox,
    SandboxExecutor,
    SandboxFunction,
    aexecute_code,
    amap,
    execute_code,
    map,
    sandbox_run,
)
from ._cli import find_binary
from ._pool import WarmPool
from .errors import (
    RemoteError,
    SandboxCpuLimit,
    SandboxDenied,
    SandboxError,
    SandboxMemoryLimit,
    SandboxTimeout,
)

__all__ = [
    "ExecResult",
    "NonJSONValue",
    "Outcome",
    "RemoteError",
    "Sandbox",
    "SandboxCpuLimit",
    "SandboxDenied",
    "SandboxError",
    "SandboxExecutor",
    "SandboxFunction",
    "SandboxMemoryLimit",
    "SandboxTimeout",
    "WarmPool",
    "aexecute_code",
    "amap",
    "execute_code",
    "find_binary",
    "map",
    "sandbox_run",
]
