"""The exceptions of sandbox_tui: every one is a :class:`SandboxError`."""

from __future__ import annotations

from typing import Any, Dict, Optional


class SandboxError(Exception):
    """The sandbox could not run the code, or it ended abnormally.

    ``result`` is the execution's result object (the CLI's ``--json``
    schema, see docs/cli.md) when there is one, else ``None``.
    """

    def __init__(self, message: str, result: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.result = result

    @property
    def execution_id(self) -> Optional[str]:
        """The execution's id (as in ``sandbox-tui ps``), when it started."""
        return None if self.result is None else self.result.get("id")


class SandboxTimeout(SandboxError):
    """The wall-clock timeout (``timeout_seconds`` or ``timeout=``) ran out."""


class SandboxCpuLimit(SandboxTimeout):
    """The CPU-time budget (``max_cpu_seconds``) ran out."""


class SandboxMemoryLimit(SandboxError):
    """The execution went over ``max_memory_mb`` and was killed by the kernel."""


class SandboxDenied(SandboxError):
    """The profile's policy (``denied_patterns``, ``allowed_commands``,
    ``allow_shell``) refused the code before anything ran."""


class RemoteError(SandboxError):
    """The code raised an exception inside the sandbox.

    Attributes: ``type`` (the exception's class name, e.g.
    ``"ZeroDivisionError"``), ``message`` (its ``str()``), ``traceback``
    (the traceback as text, with the snippet's own line numbers).
    Nothing of it was unpickled: it travelled as JSON.
    """

    def __init__(
        self,
        type: str,
        message: str,
        traceback: str,
        result: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__("%s: %s" % (type, message), result)
        self.type = type
        self.message = message
        self.traceback = traceback

    def __str__(self) -> str:
        text = "%s: %s" % (self.type, self.message)
        if self.traceback:
            text += "\n\nRemote traceback:\n" + self.traceback.rstrip("\n")
        return text
