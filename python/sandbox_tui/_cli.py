"""Running the ``sandbox-tui`` binary's ``--json`` verbs, blocking or from asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sysconfig
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import SandboxError

PathLike = Union[str, "os.PathLike[str]"]

BINARY_NAME = "sandbox-tui"


def find_binary() -> str:
    """The ``sandbox-tui`` executable: ``$SANDBOX_TUI_BIN``, else the one this
    package installed (the environment's scripts directory, then the user
    scheme's), else the first on ``PATH``."""
    override = os.environ.get("SANDBOX_TUI_BIN")
    if override:
        return override
    schemes = [None, "%s_user" % os.name]
    for scheme in schemes:
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if scripts:
            candidate = os.path.join(scripts, BINARY_NAME)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which(BINARY_NAME)
    if found:
        return found
    raise SandboxError(
        "cannot find the sandbox-tui binary: install this package with pip "
        "(it carries the binary), put sandbox-tui on PATH or set SANDBOX_TUI_BIN"
    )


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal, for ``--set KEY=VALUE``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, os.PathLike)):
        # A JSON string is a valid TOML basic string.
        return json.dumps(os.fspath(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join("%s = %s" % (json.dumps(str(k)), toml_value(v)) for k, v in value.items()) + "}"
    raise TypeError("cannot write %r as a profile value" % (value,))


def settings_args(settings: Optional[Mapping[str, Any]]) -> List[str]:
    args: List[str] = []
    for key, value in (settings or {}).items():
        if value is not None:
            args += ["--set", "%s=%s" % (key, toml_value(value))]
    return args


class Cli:
    """One way to call the binary: which binary, which profiles file, which state."""

    def __init__(
        self,
        config: Optional[PathLike] = None,
        state_dir: Optional[PathLike] = None,
        binary: Optional[PathLike] = None,
        cluster: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        self.config = os.fspath(config) if config is not None else None
        self.state_dir = os.fspath(state_dir) if state_dir is not None else None
        self.binary = os.fspath(binary) if binary is not None else None
        # A Ray cluster's dashboard (docs/ray.md); its token goes to the
        # binary through the environment, never its command line.
        self.cluster = cluster
        self.env = None
        if token is not None:
            self.env = dict(os.environ, SANDBOX_TUI_RAY_TOKEN=token)

    def argv(self, args: Sequence[str]) -> List[str]:
        argv = [self.binary or find_binary(), "--json"]
        if self.config is not None:
            argv += ["--config", self.config]
        if self.state_dir is not None:
            argv += ["--state-dir", self.state_dir]
        if self.cluster is not None:
            argv += ["--cluster", self.cluster]
        return argv + list(args)

    def run(self, args: Sequence[str], stdin: Optional[bytes] = None) -> Tuple[int, Any]:
        """Run a verb; its exit code and its parsed JSON output."""
        argv = self.argv(args)
        try:
            proc = subprocess.run(
                argv,
                input=stdin if stdin is not None else b"",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
            )
        except OSError as e:
            raise SandboxError("cannot run %s: %s" % (argv[0], e.strerror or e)) from None
        return proc.returncode, parse_output(proc.returncode, proc.stdout, proc.stderr)

    async def arun(self, args: Sequence[str], stdin: Optional[bytes] = None) -> Tuple[int, Any]:
        """:meth:`run` for asyncio: the binary runs as an asyncio subprocess."""
        argv = self.argv(args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
            )
        except OSError as e:
            raise SandboxError("cannot run %s: %s" % (argv[0], e.strerror or e)) from None
        try:
            out, err = await proc.communicate(stdin if stdin is not None else b"")
        except asyncio.CancelledError:
            # The CLI kills its execution when it is interrupted, as at a terminal.
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
            raise
        code = proc.returncode if proc.returncode is not None else -1
        return code, parse_output(code, out, err)

    def checked(self, args: Sequence[str], stdin: Optional[bytes] = None) -> Any:
        """Run a verb that is not a launch; raise SandboxError when it fails."""
        code, value = self.run(args, stdin)
        return check(code, value, args)


def check(code: int, value: Any, args: Sequence[str]) -> Any:
    if code != 0:
        message = value.get("error") if isinstance(value, dict) else None
        raise SandboxError("sandbox-tui %s failed (exit code %d): %s" % (args[0], code, message or value))
    return value


def exact_int(text: str) -> int:
    """An integer of any size, as json.loads reads it: int() refuses more
    than 4300 digits (Python 3.11+, sys.set_int_max_str_digits), Decimal
    does not, and changing the limit would change it for the whole process."""
    try:
        return int(text)
    except ValueError:
        import decimal
        return int(decimal.Decimal(text))


def loads(text: str) -> Any:
    """JSON with integers exact, however large."""
    return json.loads(text, parse_int=exact_int)


def parse_output(code: int, out: bytes, err: bytes) -> Any:
    text = out.decode("utf-8", "replace").strip()
    if not text:
        raise SandboxError(
            "sandbox-tui wrote no output (exit code %d): %s"
            % (code, err.decode("utf-8", "replace").strip() or "no message")
        )
    try:
        return loads(text)
    except (ValueError, RecursionError) as e:
        raise SandboxError("sandbox-tui wrote output that is not JSON (%s): %.200r" % (e, text)) from None
