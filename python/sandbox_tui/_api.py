"""The public API: execute_code, SandboxExecutor, sandbox_run, map, Sandbox."""

from __future__ import annotations

import asyncio
import atexit
import base64
import builtins
import concurrent.futures
import functools
import os
import threading
from dataclasses import dataclass, field
from typing import (
    Any, Awaitable, Callable, Dict, Generic, Iterable, List, Mapping, NamedTuple,
    Optional, Sequence, Tuple, TypeVar, Union,
)

from . import _remote
from ._cli import Cli, PathLike, check, settings_args
from .errors import (
    RemoteError, SandboxCpuLimit, SandboxDenied, SandboxError, SandboxMemoryLimit, SandboxTimeout,
)

T = TypeVar("T")

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class NonJSONValue:
    """A returned value JSON cannot hold (a set, bytes, an object, NaN): only
    its ``repr`` and type name come back, never the object itself."""

    repr: str
    type: str


@dataclass
class ExecResult:
    """An execution's result: the CLI's ``--json`` result object (``raw``),
    with its usual fields as attributes and the output decoded."""

    raw: Dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def sandbox(self) -> str:
        return self.raw.get("sandbox", "")

    @property
    def status(self) -> str:
        """completed, failed, timeout, cpu_limit, memory_limit, killed, denied or error."""
        return self.raw["status"]

    @property
    def exit_code(self) -> Optional[int]:
        return self.raw.get("exit_code")

    @property
    def stdout(self) -> bytes:
        return _stream(self.raw, "stdout")

    @property
    def stderr(self) -> bytes:
        return _stream(self.raw, "stderr")

    @property
    def error(self) -> Any:
        return self.raw.get("error")

    @property
    def duration_ms(self) -> Optional[int]:
        return self.raw.get("duration_ms")

    @property
    def peak_memory_bytes(self) -> Optional[int]:
        return self.raw.get("peak_memory_bytes")

    def __repr__(self) -> str:
        return "ExecResult(id=%r, status=%r, exit_code=%r)" % (self.id, self.status, self.exit_code)


def _stream(raw: Mapping[str, Any], name: str) -> bytes:
    data = raw.get(name) or ""
    if raw.get(name + "_encoding") == "base64":
        return base64.b64decode(data)
    return data.encode("utf-8")


class Outcome(NamedTuple):
    """One item's outcome in :func:`map`: ``(value, None)`` or ``(None, error)``."""

    value: Any
    error: Optional[BaseException]


# ---------------------------------------------------------------- the launch


@dataclass
class _Options:
    profile: str = DEFAULT_PROFILE
    timeout: Optional[float] = None
    config: Optional[PathLike] = None
    state_dir: Optional[PathLike] = None
    memory_mb: Optional[int] = None
    cpu_seconds: Optional[int] = None
    settings: Optional[Mapping[str, Any]] = None
    binary: Optional[PathLike] = None
    backend: str = "native"
    cluster: Optional[str] = None
    token: Optional[str] = None

    def __post_init__(self) -> None:
        if self.backend not in ("native", "ray"):
            raise ValueError('backend must be "native" or "ray", not %r' % (self.backend,))
        if self.backend == "ray":
            self.cluster = self.cluster or os.environ.get("SANDBOX_TUI_CLUSTER")
            if not self.cluster:
                raise ValueError('backend="ray" needs cluster="ray://HOST:8265" (or $SANDBOX_TUI_CLUSTER)')
        elif self.cluster is not None:
            raise ValueError('cluster= needs backend="ray"')

    def cli(self) -> Cli:
        return Cli(self.config, self.state_dir, self.binary, self.cluster, self.token)

    def run_args(self, call: Optional[str] = None) -> List[str]:
        settings: Dict[str, Any] = dict(self.settings or {})
        if self.memory_mb is not None:
            settings["max_memory_mb"] = self.memory_mb
        if self.cpu_seconds is not None:
            settings["max_cpu_seconds"] = self.cpu_seconds
        args = ["run", "-p", self.profile] + settings_args(settings)
        if self.timeout is not None:
            args += ["--timeout", repr(float(self.timeout))]
        args += ["--python", "-"]
        if call is not None:
            args += ["--call", call]
        return args


def _raise_for(result: Dict[str, Any]) -> Any:
    """The value of a Python execution, or the exception that says why there is none."""
    if "status" not in result:
        raise SandboxError("sandbox-tui: %s" % result.get("error", result), None)
    status = result["status"]
    error = result.get("error")
    if status == "completed":
        value = result.get("result")
        if result.get("result_non_json") and isinstance(value, dict):
            return NonJSONValue(repr=value.get("repr", ""), type=value.get("type", ""))
        return _remote.decode_value(value)
    if isinstance(error, dict):
        text = "%s: %s" % (error.get("type"), error.get("message"))
    else:
        text = str(error or status)
    if status == "timeout":
        raise SandboxTimeout(text, result)
    if status == "cpu_limit":
        raise SandboxCpuLimit(text, result)
    if status == "memory_limit":
        raise SandboxMemoryLimit(text, result)
    if status == "denied":
        raise SandboxDenied(text, result)
    if status == "failed" and isinstance(error, dict) and error.get("type") != "ResultTooLarge":
        raise RemoteError(error.get("type", "Exception"), error.get("message", ""), error.get("traceback", ""), result)
    raise SandboxError("%s: %s" % (status, text), result)


def _builtin_twin(error: RemoteError) -> BaseException:
    """``ZeroDivisionError('division by zero')`` for a remote ZeroDivisionError
    (built-in exception types only); the RemoteError, with the traceback, is
    its ``__cause__``. Any other type stays a RemoteError."""
    cls = getattr(builtins, error.type, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            twin = cls(error.message)
        except Exception:
            return error
        twin.__cause__ = error
        return twin
    return error


def _pair(run: Callable[[], Any]) -> Tuple[Any, Optional[BaseException]]:
    try:
        return run(), None
    except RemoteError as e:
        return None, _builtin_twin(e)
    except SandboxError as e:
        return None, e


async def _apair(run: Callable[[], Awaitable[Any]]) -> Tuple[Any, Optional[BaseException]]:
    try:
        return await run(), None
    except RemoteError as e:
        return None, _builtin_twin(e)
    except SandboxError as e:
        return None, e


# ---------------------------------------------------------------- warm = N

_POOLS: Dict[Any, Any] = {}  # key -> WarmPool, or None: the profile has no warm
_POOLS_LOCK = threading.Lock()


def _pool_key(options: _Options) -> Any:
    settings = tuple(sorted((str(k), repr(v)) for k, v in (options.settings or {}).items()))
    return (options.binary, options.config, options.state_dir, options.profile,
            options.memory_mb, options.cpu_seconds, settings)


def _warm_pool(options: _Options) -> Any:
    if options.backend != "native":
        return None
    return _native_warm_pool(options)


def _native_warm_pool(options: _Options) -> Any:
    """The process's warm pool for this profile and these overrides, made at
    first use when the profile has ``warm = N`` (N > 0); None otherwise
    (the call then starts its own sandbox). A profile with
    ``denied_patterns`` is never pooled: its policy reads the code, which a
    warm sandbox gets only after it started."""
    key = _pool_key(options)
    with _POOLS_LOCK:
        if key in _POOLS:
            return _POOLS[key]
        pool = None
        profile = next((p for p in options.cli().checked(["profiles"]) if p.get("name") == options.profile), None)
        if profile is not None:
            merged = dict(profile)
            merged.update(options.settings or {})
            size = merged.get("warm") or 0
            if isinstance(size, int) and size > 0 and not merged.get("denied_patterns"):
                from ._pool import WarmPool
                pool = WarmPool(size, options.profile, options.config, state_dir=options.state_dir,
                                memory_mb=options.memory_mb, cpu_seconds=options.cpu_seconds,
                                settings=options.settings, binary=options.binary)
        _POOLS[key] = pool
        return pool


@atexit.register
def _close_pools() -> None:
    with _POOLS_LOCK:
        pools = [p for p in _POOLS.values() if p is not None]
        _POOLS.clear()
    for pool in pools:
        pool.close()


def _launch(options: _Options, code: str, call: Optional[str] = None) -> Any:
    pool = _warm_pool(options)
    if pool is not None:
        return pool._call(code, options.timeout, call)
    code_, result = options.cli().run(options.run_args(call), stdin=code.encode("utf-8"))
    return _raise_for(result)


async def _alaunch(options: _Options, code: str, call: Optional[str] = None) -> Any:
    loop = asyncio.get_running_loop()
    pool = await loop.run_in_executor(None, _warm_pool, options)
    if pool is not None:
        return await loop.run_in_executor(None, pool._call, code, options.timeout, call)
    code_, result = await options.cli().arun(options.run_args(call), stdin=code.encode("utf-8"))
    return _raise_for(result)


# ---------------------------------------------------------------- execute_code


def execute_code(
    code: str,
    timeout: Optional[float] = None,
    profile: str = DEFAULT_PROFILE,
    config: Optional[PathLike] = None,
    *,
    state_dir: Optional[PathLike] = None,
    memory_mb: Optional[int] = None,
    cpu_seconds: Optional[int] = None,
    settings: Optional[Mapping[str, Any]] = None,
    backend: str = "native",
    cluster: Optional[str] = None,
    token: Optional[str] = None,
) -> Tuple[Any, Optional[BaseException]]:
    """Run a Python snippet in a fresh sandbox; ``(result, None)`` or ``(None, error)``.

    The snippet is the body of a function: ``return`` gives the result
    (``execute_code("return 2 + 2") == (4, None)``). The result comes back
    as JSON, never a pickle; a value JSON cannot hold is a
    :class:`NonJSONValue`. An exception of a built-in type comes back as
    that type (``(None, ZeroDivisionError('division by zero'))``) whose
    ``__cause__`` is the :class:`RemoteError` with the traceback; any other
    is a :class:`RemoteError`; a limit or a denial is the matching
    :class:`SandboxError`. Nothing is raised for what the snippet did.

    ``backend="ray"`` with ``cluster="ray://HOST:8265"`` (and ``token``,
    sent as ``$SANDBOX_TUI_RAY_TOKEN``) runs the call as a job on a Ray
    cluster's node, in the same sandbox (docs/ray.md).

    ``timeout`` (seconds) overrides the profile's ``timeout_seconds``;
    ``memory_mb``, ``cpu_seconds`` and ``settings`` (any profile key, e.g.
    ``{"max_process_count": 20}``) override the profile for this call only,
    checked like the file (a bad one raises :class:`SandboxError` naming
    the key). ``config`` is the profiles file, ``state_dir`` the state
    directory (default: the CLI's own discovery).

    A profile with ``warm = N`` serves the call from this process's pool of
    N started sandboxes (each used for one call, never reused; see
    :class:`WarmPool`), where a large bytes, str or numpy array comes back
    as a raw file instead of JSON.
    """
    options = _Options(profile, timeout, config, state_dir, memory_mb, cpu_seconds, settings,
                       backend=backend, cluster=cluster, token=token)
    return _pair(lambda: _launch(options, code))


async def aexecute_code(
    code: str,
    timeout: Optional[float] = None,
    profile: str = DEFAULT_PROFILE,
    config: Optional[PathLike] = None,
    *,
    state_dir: Optional[PathLike] = None,
    memory_mb: Optional[int] = None,
    cpu_seconds: Optional[int] = None,
    settings: Optional[Mapping[str, Any]] = None,
    backend: str = "native",
    cluster: Optional[str] = None,
    token: Optional[str] = None,
) -> Tuple[Any, Optional[BaseException]]:
    """:func:`execute_code` for asyncio: ``await aexecute_code("return 1")``.

    Cancelling the task ends the sandboxed execution."""
    options = _Options(profile, timeout, config, state_dir, memory_mb, cpu_seconds, settings,
                       backend=backend, cluster=cluster, token=token)
    return await _apair(lambda: _alaunch(options, code))


# ---------------------------------------------------------------- SandboxExecutor


class SandboxExecutor:
    """Calls methods of an object with state inside fresh sandboxes.

    Each call sends the source of the object's class (and of what it uses
    from its module, plus ``import`` lines for the modules it uses) and a
    pickle of its ``__dict__`` and the arguments into a new sandbox, which
    rebuilds the object and calls the method. The value comes back as JSON
    (numpy arrays as ``.npy`` read without pickle): nothing from the sandbox
    is ever unpickled on the host. Changes the method makes to the object's
    state stay in the sandbox.
    """

    def __init__(
        self,
        worker: Any,
        profile: str = DEFAULT_PROFILE,
        config: Optional[PathLike] = None,
        *,
        state_dir: Optional[PathLike] = None,
        memory_mb: Optional[int] = None,
        cpu_seconds: Optional[int] = None,
        settings: Optional[Mapping[str, Any]] = None,
        backend: str = "native",
        cluster: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        self.worker = worker
        self._options = _Options(profile, None, config, state_dir, memory_mb, cpu_seconds, settings,
                                 backend=backend, cluster=cluster, token=token)

    def _call(self, method: str, args: Sequence[Any], kwargs: Optional[Mapping[str, Any]],
              timeout: Optional[float]) -> Tuple[_Options, str]:
        code = _remote.method_call(self.worker, method, tuple(args), dict(kwargs or {}))
        options = _Options(**{**self._options.__dict__, "timeout": timeout})
        return options, code

    def secure_execute(
        self,
        method: str,
        method_args: Sequence[Any] = (),
        method_kwargs: Optional[Mapping[str, Any]] = None,
        timeout_seconds: Optional[float] = None,
    ) -> Any:
        """``worker.method(*method_args, **method_kwargs)`` in a sandbox; its value.

        Raises :class:`RemoteError` for an exception of the method,
        :class:`SandboxTimeout`, :class:`SandboxMemoryLimit`,
        :class:`SandboxDenied` or :class:`SandboxError` otherwise."""
        options, code = self._call(method, method_args, method_kwargs, timeout_seconds)
        return _launch(options, code, _remote.ENTRY)

    async def asecure_execute(
        self,
        method: str,
        method_args: Sequence[Any] = (),
        method_kwargs: Optional[Mapping[str, Any]] = None,
        timeout_seconds: Optional[float] = None,
    ) -> Any:
        """:meth:`secure_execute` for asyncio."""
        options, code = self._call(method, method_args, method_kwargs, timeout_seconds)
        return await _alaunch(options, code, _remote.ENTRY)


# ---------------------------------------------------------------- sandbox_run


class SandboxFunction(Generic[T]):
    """A function that runs in a fresh sandbox at each call (see :func:`sandbox_run`)."""

    def __init__(self, func: Callable[..., T], options: _Options, instance: Any = None) -> None:
        functools.update_wrapper(self, func)
        self.__sandbox_tui_wrapped__ = func
        self._func = func
        self._options = options
        self._instance = instance
        if instance is None:
            # Refuse what cannot travel (a closure, a lambda) when it is
            # defined, not at its first call.
            _remote.function_call(func, (), {})

    def __get__(self, instance: Any, owner: Optional[type] = None) -> "SandboxFunction[T]":
        if instance is None:
            return self
        return SandboxFunction(self._func, self._options, instance)

    def _code(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[str, str]:
        if self._instance is not None:
            return _remote.method_call(self._instance, self._func.__name__, args, kwargs), _remote.ENTRY
        return _remote.function_call(self._func, args, kwargs), _remote.ENTRY

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        code, entry = self._code(args, kwargs)
        return _launch(self._options, code, entry)

    async def aio(self, *args: Any, **kwargs: Any) -> T:
        """The call for asyncio: ``await f.aio(1, 2)``."""
        code, entry = self._code(args, kwargs)
        return await _alaunch(self._options, code, entry)


def sandbox_run(
    func: Optional[Callable[..., T]] = None,
    *,
    timeout: Optional[float] = None,
    profile: str = DEFAULT_PROFILE,
    config: Optional[PathLike] = None,
    state_dir: Optional[PathLike] = None,
    memory_mb: Optional[int] = None,
    cpu_seconds: Optional[int] = None,
    settings: Optional[Mapping[str, Any]] = None,
) -> Any:
    """Decorator: every call of the function runs in a fresh sandbox.

    ``@sandbox_run`` or ``@sandbox_run(timeout=5, profile="strict")``, on a
    module-level function or a method (the instance travels as its class's
    source plus its state). The function's source travels, with the
    functions and classes of its module it uses and ``import`` lines for
    the modules it uses; other globals and the arguments are pickled
    host -> sandbox. A closure or a function defined inside another is
    refused at decoration time with a :class:`SandboxError` saying why.
    The call returns the value (JSON, never unpickled) or raises
    :class:`RemoteError` / :class:`SandboxTimeout` / ...; ``await f.aio(...)``
    is the asyncio form.
    """
    options = _Options(profile, timeout, config, state_dir, memory_mb, cpu_seconds, settings)

    def decorate(f: Callable[..., T]) -> SandboxFunction[T]:
        return SandboxFunction(f, options)

    if func is not None:
        return decorate(func)
    return decorate


# ---------------------------------------------------------------- map


def _as_sandboxed(fn: Callable[..., Any], options: _Options) -> SandboxFunction[Any]:
    if isinstance(fn, SandboxFunction):
        return fn
    return SandboxFunction(fn, options)


def map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    concurrency: int = 4,
    *,
    timeout: Optional[float] = None,
    profile: str = DEFAULT_PROFILE,
    config: Optional[PathLike] = None,
    state_dir: Optional[PathLike] = None,
    memory_mb: Optional[int] = None,
    cpu_seconds: Optional[int] = None,
    settings: Optional[Mapping[str, Any]] = None,
) -> List[Outcome]:
    """``fn(item)`` for each item, each in its own sandbox, ``concurrency`` at once.

    Returns one :class:`Outcome` ``(value, error)`` per item, in the order
    of ``items``; an item that fails (an exception, a timeout, a limit)
    has its error there and does not stop the others. ``fn`` is a
    module-level function or a :func:`sandbox_run` function (whose own
    options then apply)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    func = _as_sandboxed(fn, _Options(profile, timeout, config, state_dir, memory_mb, cpu_seconds, settings))
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(_pair, functools.partial(func, item)) for item in items]
        return [Outcome(*f.result()) for f in futures]


async def amap(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    concurrency: int = 4,
    *,
    timeout: Optional[float] = None,
    profile: str = DEFAULT_PROFILE,
    config: Optional[PathLike] = None,
    state_dir: Optional[PathLike] = None,
    memory_mb: Optional[int] = None,
    cpu_seconds: Optional[int] = None,
    settings: Optional[Mapping[str, Any]] = None,
) -> List[Outcome]:
    """:func:`map` for asyncio: at most ``concurrency`` sandboxes at once."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    func = _as_sandboxed(fn, _Options(profile, timeout, config, state_dir, memory_mb, cpu_seconds, settings))
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Outcome:
        async with gate:
            return Outcome(*(await _apair(lambda: func.aio(item))))

    return list(await asyncio.gather(*(one(item) for item in items)))


# ---------------------------------------------------------------- Sandbox


class Sandbox:
    """A named sandbox: a persistent workspace and cgroup, made from a profile.

    ``with Sandbox("box1", profile="strict") as box:`` creates it (or, with
    ``exist_ok=True``, opens an existing one) and removes it on exit (unless
    ``remove=False``). Its executions appear in the dashboard and in
    ``sandbox-tui ps`` like any other. Limits come from the profile, with
    ``memory_mb``, ``cpu_seconds`` and ``settings`` (any profile key)
    overriding it for this sandbox (``create --set``, checked like the
    file); ``timeout=`` overrides the wall clock per call.
    """

    def __init__(
        self,
        name: str,
        profile: str = DEFAULT_PROFILE,
        config: Optional[PathLike] = None,
        *,
        state_dir: Optional[PathLike] = None,
        remove: bool = True,
        exist_ok: bool = False,
        memory_mb: Optional[int] = None,
        cpu_seconds: Optional[int] = None,
        settings: Optional[Mapping[str, Any]] = None,
        binary: Optional[PathLike] = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.settings: Dict[str, Any] = dict(settings or {})
        if memory_mb is not None:
            self.settings["max_memory_mb"] = memory_mb
        if cpu_seconds is not None:
            self.settings["max_cpu_seconds"] = cpu_seconds
        self.remove = remove
        self.exist_ok = exist_ok
        self._cli = Cli(config, state_dir, binary)

    # lifecycle

    def create(self) -> Dict[str, Any]:
        """Create the sandbox (``sandbox-tui create``); its record."""
        code, value = self._cli.run(["create", self.name, "-p", self.profile] + settings_args(self.settings))
        if code != 0 and self.exist_ok and any(s["name"] == self.name for s in self.list()):
            return next(s for s in self.list() if s["name"] == self.name)
        return check(code, value, ["create"])

    def list(self) -> List[Dict[str, Any]]:
        """Every sandbox (``sandbox-tui ls``)."""
        return self._cli.checked(["ls"])

    def __enter__(self) -> "Sandbox":
        self.create()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.remove:
            self.rm(force=True)

    def rm(self, force: bool = True) -> Dict[str, Any]:
        """Remove the sandbox: its workspace, cgroups and history
        (``force``: kill what still runs first)."""
        return self._cli.checked(["rm", self.name] + (["--force"] if force else []))

    def kill(self, signal: Optional[Union[str, int]] = None) -> List[Dict[str, Any]]:
        """Kill every execution of the sandbox (its whole cgroup); the
        executions killed, as ``{id, sandbox, status}``."""
        args = ["kill", self.name]
        if signal is not None:
            args += ["--signal", str(signal)]
        return self._cli.checked(args)

    # running

    def _exec_args(self, timeout: Optional[float]) -> List[str]:
        args = ["exec", self.name]
        if timeout is not None:
            args += ["--timeout", repr(float(timeout))]
        return args

    def exec(self, command: Union[str, Sequence[str]], *, timeout: Optional[float] = None,
             stdin: Optional[bytes] = None) -> ExecResult:
        """Run a command (a list, or a string for ``sh -c``) and wait for it.

        Returns the result whatever the exit code; raises only when it
        could not be run at all."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        code, value = self._cli.run(self._exec_args(timeout) + ["--"] + argv, stdin)
        if not isinstance(value, dict) or "status" not in value:
            check(code or 125, value, ["exec"])
        return ExecResult(value)

    async def aexec(self, command: Union[str, Sequence[str]], *, timeout: Optional[float] = None) -> ExecResult:
        """:meth:`exec` for asyncio."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        code, value = await self._cli.arun(self._exec_args(timeout) + ["--"] + argv)
        if not isinstance(value, dict) or "status" not in value:
            check(code or 125, value, ["exec"])
        return ExecResult(value)

    def start(self, command: Union[str, Sequence[str]], *, timeout: Optional[float] = None) -> str:
        """Start a command detached; its execution id (see :meth:`wait`, :meth:`kill`)."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        return self._cli.checked(self._exec_args(timeout) + ["--detach", "--"] + argv)["id"]

    def wait(self, execution_id: str) -> ExecResult:
        """Wait for an execution to end; its result."""
        code, value = self._cli.run(["wait", execution_id])
        if not isinstance(value, dict) or "status" not in value:
            check(code or 125, value, ["wait"])
        return ExecResult(value)

    def python(self, code: str, *, timeout: Optional[float] = None) -> Any:
        """Run a Python snippet (a function body) in the sandbox; its value,
        or the exception (:class:`RemoteError`, :class:`SandboxTimeout`, ...)."""
        _, value = self._cli.run(self._exec_args(timeout) + ["--python", "-"], code.encode("utf-8"))
        return _raise_for(value)

    # files

    def cp_in(self, src: PathLike, dest: str = "") -> Dict[str, Any]:
        """Copy a host file into the workspace (``dest`` relative to it)."""
        return self._cli.checked(["cp", os.path.abspath(os.fspath(src)), "%s:%s" % (self.name, dest)])

    def cp_out(self, src: str, dest: PathLike) -> Dict[str, Any]:
        """Copy a workspace file out to the host."""
        return self._cli.checked(["cp", "%s:%s" % (self.name, src), os.path.abspath(os.fspath(dest))])

    def cp(self, src: str, dest: str) -> Dict[str, Any]:
        """``sandbox-tui cp``: exactly one side is ``NAME:path``."""
        return self._cli.checked(["cp", src, dest])

    def files(self, path: str = "") -> List[Dict[str, Any]]:
        """The workspace directory ``path``: ``{name, type, size, mtime}`` each,
        symlinks listed, never followed."""
        args = ["files", self.name] + ([path] if path else [])
        return self._cli.checked(args)

    def ps(self) -> List[Dict[str, Any]]:
        """The sandbox's executions, newest first."""
        return self._cli.checked(["ps", self.name])
