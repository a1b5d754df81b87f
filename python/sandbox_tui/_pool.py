"""A warm pool: sandboxes started ahead, each used for exactly one call.

Each warm sandbox is an ordinary ``sandbox-tui run`` of the profile's
Python with a small loader: it starts the interpreter, imports the
``preload`` modules, says it is ready and waits for one snippet on its
stdin. A call takes a ready sandbox, writes the code, and reads the value
from the sandbox's stdout as soon as the loader writes it (the end of the
execution, its record and the cgroup's removal happen after, in the
background); meanwhile a thread starts the next sandbox. The value is one
JSON line, read with a size cap and never unpickled.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import select
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _remote
from ._cli import Cli, PathLike, settings_args
from ._cli import loads as _cli_loads
from .errors import (
    RemoteError, SandboxCpuLimit, SandboxDenied, SandboxError, SandboxMemoryLimit, SandboxTimeout,
)

# Everything the call needs is imported before "ready": an import on the
# call's path (linecache pulls in tokenize and re) costs milliseconds.
LOADER = r'''
import _ast, json, linecache, os, sys, traceback
out = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
value_dir, limit = sys.argv[1], int(sys.argv[2])
for name in sys.argv[3:]:
    try:
        __import__(name)
    except Exception as e:
        print("sandbox-tui pool: preloading %%s: %%r" %% (name, e), file=sys.stderr)
out.write("ready %%d\n" %% os.getuid())
out.flush()
line = sys.stdin.readline()
if not line:
    sys.exit(0)
message = json.loads(line)
call = None
if isinstance(message, dict):
    code, call = message["code"], message["call"]
else:
    code = message
linecache.cache["<snippet>"] = (len(code), None, code.splitlines(True), "<snippet>")

def encode(value, depth=0):
    kind = type(value)
    if depth < 200 and kind in (list, tuple):
        return [encode(v, depth + 1) for v in value]
    if depth < 200 and kind is dict:
        return {k: encode(v, depth + 1) for k, v in value.items()}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray) and value.dtype != object:
            import base64, io
            buf = io.BytesIO()
            numpy.save(buf, value, allow_pickle=False)
            return {"%s": base64.b64encode(buf.getvalue()).decode("ascii")}
        if isinstance(value, numpy.generic):
            return value.item()
    return value

def too_large(size):
    return json.dumps({"ok": False, "error": {
        "type": "ResultTooLarge", "traceback": "",
        "message": "the result is %%.1f MB, over max_result_mb = %%.0f MB" %% (size / 1048576, limit / 1048576)}})

def write_all(fd, data):
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]

def as_file(value):
    # A top-level bytes, str or array of 64 KB or more travels as raw bytes
    # in a file of the host's value directory, not as JSON.
    if value_dir == "-":
        return None
    kind = type(value)
    numpy = sys.modules.get("numpy")
    if kind in (bytes, bytearray):
        if len(value) < 65536:
            return None
        data, header, name = value, b"", "bytes"
    elif kind is str:
        if len(value) < 65536:
            return None
        data, header, name = value.encode("utf-8", "surrogatepass"), b"", "str"
    elif numpy is not None and kind is numpy.ndarray and not value.dtype.hasobject and value.nbytes >= 65536:
        import io
        buf = io.BytesIO()
        numpy.lib.format.write_array_header_2_0(buf, numpy.lib.format.header_data_from_array_1_0(value))
        header, name = buf.getvalue(), "ndarray"
        data = value if value.flags.c_contiguous or value.flags.f_contiguous else numpy.ascontiguousarray(value)
        data = data.reshape(-1, order="F" if data.flags.f_contiguous and not data.flags.c_contiguous else "C").view(numpy.uint8)
    else:
        return None
    size = len(header) + len(data)
    if size > limit:
        return too_large(size)
    fd = os.open(os.path.join(value_dir, "value"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, header)
        write_all(fd, data)
    finally:
        os.close(fd)
    return json.dumps({"ok": True, "file": {"type": name, "size": size}})

def frame(value):
    # An int of any size, exact: the snippet has returned, so lifting
    # Python's 4300-digit guard costs it nothing.
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    try:
        text = as_file(value)
        if text is not None:
            return text
    except OSError as e:
        print("sandbox-tui pool: the value file: %%r" %% (e,), file=sys.stderr)
    try:
        return json.dumps({"ok": True, "result": encode(value)}, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, OverflowError, RecursionError):
        try:
            text = repr(value)
        except Exception as e:
            text = "<unrepresentable: %%s>" %% type(e).__name__
        return json.dumps({"ok": True, "non_json": True,
                           "result": {"repr": text, "type": type(value).__name__}})

try:
    if call is None:
        tree = compile(code, "<snippet>", "exec", _ast.PyCF_ONLY_AST)
        body = tree.body or [_ast.Pass(lineno=1, col_offset=0)]
        func = _ast.FunctionDef(name="__snippet__", args=_ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[]), body=body, decorator_list=[], returns=None, lineno=1, col_offset=0)
        if "type_params" in _ast.FunctionDef._fields:
            func.type_params = []
        ns = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(_ast.Module(body=[func], type_ignores=[]), "<snippet>", "exec"), ns)
        value = ns["__snippet__"]()
    else:
        # The code of a sandbox_run function or a SandboxExecutor method:
        # its entry hands back the value itself, for the file path above.
        ns = {"__name__": "__main__", "__builtins__": __builtins__, "_stui_raw": True}
        exec(compile(code, "<snippet>", "exec"), ns)
        value = ns[call]()
    text = frame(value)
except BaseException as exc:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<snippet>"]
    tb = "".join(["Traceback (most recent call last):\n"] + traceback.format_list(frames)
                 + traceback.format_exception_only(type(exc), exc))
    text = json.dumps({"ok": False, "error": {"type": type(exc).__name__, "message": str(exc),
                                              "traceback": tb}})
if len(text) > limit + 4096:
    text = too_large(len(text))
sys.stdout.flush()
sys.stderr.flush()
out.write(text + "\n")
out.flush()
''' % _remote.NDARRAY_TAG

# Exit codes of `run` (README, "Exit codes").
_EXIT_ERRORS = {124: SandboxTimeout, 126: SandboxDenied, 137: SandboxMemoryLimit, 152: SandboxCpuLimit}


def _value_dir_parent() -> str:
    # A tmpfs: the value file is then pages of memory, as shared memory is.
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def read_value_file(directory: str, size: int, limit: int) -> bytes:
    """The value file a sandbox wrote into ``directory``, read as the host
    reads anything a sandbox left: no symlink followed (the directory's nor
    the file's), a regular file only (a FIFO or a device is refused without
    blocking on it), its size checked against ``limit`` and against what the
    sandbox announced before a byte is read, and read with ``pread`` into
    memory, never mapped (a process still in the sandbox could truncate a
    mapping under the host, which would then die of SIGBUS)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise SandboxError("cannot open the value directory: %s" % e) from None
    try:
        try:
            fd = os.open("value", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as e:
            raise SandboxError("the sandbox's value file cannot be read safely: %s" % e) from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SandboxError("the sandbox's value file is not a regular file")
        if st.st_size > limit:
            raise SandboxError("ResultTooLarge: the result is %.1f MB, over max_result_mb = %.0f MB"
                               % (st.st_size / 1048576, limit / 1048576))
        if st.st_size != size:
            raise SandboxError("the sandbox's value file has %d bytes, not the %d it announced"
                               % (st.st_size, size))
        data = bytearray(size)
        view = memoryview(data)
        done = 0
        while done < size:
            n = os.preadv(fd, [view[done:]], done)
            if n <= 0:
                raise SandboxError("the sandbox's value file shrank while it was read")
            done += n
        return data
    finally:
        os.close(fd)


def decode_value_file(kind: Any, data: bytearray) -> Any:
    """bytes, str or a numpy array (an .npy file, read without pickle)."""
    if kind == "bytes":
        return bytes(data)
    if kind == "str":
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as e:
            raise SandboxError("the sandbox returned a malformed str: %s" % e) from None
    if kind == "ndarray":
        try:
            import numpy
        except ImportError:
            return bytes(data)  # the .npy file itself
        import io
        try:
            header = io.BytesIO(bytes(memoryview(data)[:65536]))
            version = numpy.lib.format.read_magic(header)
            if version == (1, 0):
                shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(header)
            else:
                shape, fortran, dtype = numpy.lib.format.read_array_header_2_0(header)
            if dtype.hasobject:
                raise ValueError("an array of objects")
            count = 1
            for n in shape:
                count *= n
            offset = header.tell()
            if offset + count * dtype.itemsize != len(data):
                raise ValueError("its size does not match its header")
            # Backed by the bytearray just read: the host's own, writable copy.
            array = numpy.frombuffer(data, dtype=dtype, count=count, offset=offset)
            return array.reshape(shape, order="F" if fortran else "C")
        except (ValueError, OSError, EOFError, TypeError) as e:
            raise SandboxError("the sandbox returned a malformed array: %s" % e) from None
    raise SandboxError("the sandbox returned a value file of unknown type %r" % (kind,))


class _Warm:
    """One started sandbox: its CLI process, its value directory and what it
    wrote so far."""

    def __init__(self, argv: List[str], value_dir: Optional[str]) -> None:
        self.value_dir = value_dir
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buffer = b""
        self.stderr: Deque[bytes] = collections.deque(maxlen=64)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def readline(self, limit: int, deadline: Optional[float]) -> Optional[bytes]:
        """One line of stdout; None at EOF; raises TimeoutError at the deadline."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks = [self.buffer]
        size = len(self.buffer)
        chunk = self.buffer
        while b"\n" not in chunk:
            if size > limit:
                raise SandboxError("the sandbox wrote a value over the pool's limit of %d bytes" % limit)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                self.buffer = b"".join(chunks)
                raise TimeoutError()
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.buffer = b"".join(chunks)
                return None
            chunks.append(chunk)
            size += len(chunk)
        line, _, self.buffer = b"".join(chunks).partition(b"\n")
        return line

    def finish_in_background(self) -> threading.Thread:
        """Let the execution end on its own: keep reading its output (a closed
        pipe would kill it), reap the CLI and remove the value directory."""
        def drain() -> None:
            assert self.proc.stdout is not None
            try:
                while os.read(self.proc.stdout.fileno(), 1 << 16):
                    pass
            except OSError:
                pass
            self.proc.wait()
            self.proc.stdout.close()
            self.remove_value_dir()
        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        return thread

    def remove_value_dir(self) -> None:
        # Once nothing in the sandbox runs any more; rmtree follows no symlink.
        if self.value_dir is not None:
            try:
                shutil.rmtree(self.value_dir, ignore_errors=True)
            except RecursionError:
                pass  # a tree nested beyond Python's recursion limit stays

    def stop(self) -> threading.Thread:
        # The CLI ends its execution when it is terminated.
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.finish_in_background()

    def stderr_text(self, wait: bool = False) -> str:
        """The tail of the CLI's stderr (``wait``: all of it, once it ended)."""
        if wait:
            self._stderr_thread.join(timeout=60)
        return b"".join(self.stderr).decode("utf-8", "replace").strip()


class WarmPool:
    """``size`` sandboxes of a profile kept started, each used for one call.

    ``pool.execute_code(code)`` has :func:`execute_code`'s contract, without
    the start of a sandbox and of the interpreter on its path. Every call
    still gets a fresh sandbox (a new one is started in the background to
    replace it), with the profile's limits; ``preload`` modules are imported
    before the code arrives. Use it as a context manager, or ``close()`` it:
    the sandboxes still waiting are then ended.

    Differences from :func:`execute_code`, which follow from the code
    arriving after the sandbox started: the dashboard shows each execution
    as the profile's ``python`` running the pool's loader, not the snippet;
    what the snippet prints goes to its stderr log; ``timeout`` is enforced
    by ending the execution from here; and a profile with ``denied_patterns``
    is refused, since the sandbox-tui policy never sees the code.
    """

    def __init__(
        self,
        size: int = 2,
        profile: str = "default",
        config: Optional[PathLike] = None,
        *,
        state_dir: Optional[PathLike] = None,
        preload: Sequence[str] = (),
        memory_mb: Optional[int] = None,
        cpu_seconds: Optional[int] = None,
        settings: Optional[Mapping[str, Any]] = None,
        idle_seconds: int = 3600,
        binary: Optional[PathLike] = None,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._cli = Cli(config, state_dir, binary)
        overrides: Dict[str, Any] = dict(settings or {})
        if memory_mb is not None:
            overrides["max_memory_mb"] = memory_mb
        if cpu_seconds is not None:
            overrides["max_cpu_seconds"] = cpu_seconds
        resolved = self._resolve(profile, overrides)
        if resolved.get("denied_patterns"):
            raise SandboxError(
                "profile %s has denied_patterns, which sandbox-tui checks in the code it "
                "launches; a warm sandbox gets its code after it started, so the pool would "
                "skip them: use execute_code for this profile" % profile
            )
        self._limit = int(resolved.get("max_result_mb", 16)) << 20
        # The value travels on stdout: let the capture hold it.
        overrides.setdefault("max_output_kb", (self._limit >> 10) + 64)
        self._timeout = float(resolved.get("timeout_seconds", 60))
        self._run_args = ["run", "-p", profile] + settings_args(overrides) + [
            "--timeout", str(idle_seconds + self._timeout)]
        self._writable = list(resolved.get("writable_paths") or [])
        self._python = resolved.get("python", "python3")
        self._preload = list(preload)
        self._ready: Deque[_Warm] = collections.deque()
        self._starting = 0
        self._in_use = 0
        self._paused = False  # after a start failed, until a call asks again
        self._closed = False
        self._cond = threading.Condition()
        self._failures: Deque[str] = collections.deque(maxlen=1)
        # The used sandboxes still ending, which close() waits for.
        self._ending: List[threading.Thread] = []
        self._ending_lock = threading.Lock()
        threading.Thread(target=self._refill, daemon=True).start()

    def _resolve(self, profile: str, overrides: Mapping[str, Any]) -> Dict[str, Any]:
        # A bad override is refused by `run --set` when a sandbox starts:
        # the calls then return that error.
        for p in self._cli.checked(["profiles"]):
            if p.get("name") == profile:
                merged = dict(p)
                merged.update(overrides)
                return merged
        raise SandboxError("unknown profile %r" % profile)

    def _refill(self) -> None:
        """One thread keeps ``size`` sandboxes ready or in use. A sandbox in
        use is replaced only once its call has its answer, so that the
        replacement's start does not compete with the call for the CPU."""
        while True:
            with self._cond:
                while not self._closed and (
                    self._paused or len(self._ready) + self._starting + self._in_use >= self.size
                ):
                    self._cond.wait()
                if self._closed:
                    return
                self._starting += 1
            self._warm_up()

    def _start(self) -> _Warm:
        """A sandbox with its own value directory: a fresh, private directory
        of the host bound writable into it (``writable_paths``), which the
        sandbox's uid gets once the sandbox says which it is."""
        value_dir = tempfile.mkdtemp(prefix="sandbox-tui-value.", dir=_value_dir_parent())
        try:
            writable = settings_args({"writable_paths": self._writable + [value_dir]})
            argv = self._cli.argv(self._run_args + writable + [
                "--", self._python, "-I", "-c", LOADER, value_dir, str(self._limit)] + self._preload)
            return _Warm([a for a in argv if a != "--json"], value_dir)
        except BaseException:
            shutil.rmtree(value_dir, ignore_errors=True)
            raise

    def _warm_up(self) -> None:
        warm = None
        try:
            warm = self._start()
            line = warm.readline(1024, time.monotonic() + 300)
            words = (line or b"").split()
            if len(words) != 2 or words[0] != b"ready" or not words[1].isdigit():
                if line is None:
                    warm.proc.wait()
                raise SandboxError("a warm sandbox did not start: %s"
                                   % (warm.stderr_text(wait=line is None) or repr(line)))
            try:
                # Ours, made just now with mkdtemp: lchown follows no link.
                # The uid is the sandbox's word, and only this directory,
                # which holds nothing of the host's, is given to it.
                os.lchown(warm.value_dir, int(words[1]), int(words[1]))
            except OSError:
                pass  # not root: the value then travels as JSON
        except (OSError, SandboxError, TimeoutError) as e:
            if warm is not None:
                self._retire(warm.stop())
            with self._cond:
                self._starting -= 1
                self._paused = True
                self._failures.append(str(e) or type(e).__name__)
                self._cond.notify_all()
            return
        with self._cond:
            self._starting -= 1
            if self._closed:
                self._retire(warm.stop())
            else:
                self._ready.append(warm)
            self._cond.notify_all()

    def _retire(self, thread: threading.Thread) -> None:
        with self._ending_lock:
            self._ending = [t for t in self._ending if t.is_alive()]
            self._ending.append(thread)

    def _take(self) -> _Warm:
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("the pool is closed")
                warm = None
                while self._ready and warm is None:
                    candidate = self._ready.popleft()
                    if candidate.proc.poll() is None:
                        warm = candidate
                    else:
                        self._retire(candidate.finish_in_background())  # ended while idle (idle_seconds)
                if warm is not None:
                    self._in_use += 1
                    return warm
                if self._starting == 0 and self._failures:
                    # Reported to this call; the next call tries again.
                    self._paused = False
                    raise SandboxError(self._failures.popleft())
                self._paused = False
                self._cond.notify_all()
                self._cond.wait()

    def _call(self, code: str, timeout: Optional[float], call: Optional[str] = None) -> Any:
        warm = self._take()
        try:
            return self._call_in(warm, code, timeout, call)
        finally:
            with self._cond:
                self._in_use -= 1
                self._cond.notify_all()

    def _call_in(self, warm: _Warm, code: str, timeout: Optional[float], call: Optional[str]) -> Any:
        limit = self._limit + 4096
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        assert warm.proc.stdin is not None
        message = code if call is None else {"code": code, "call": call}
        try:
            warm.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            warm.proc.stdin.close()
        except OSError:
            pass  # it ended meanwhile: its exit code says why, below
        try:
            line = warm.readline(limit, deadline)
        except TimeoutError:
            self._retire(warm.stop())
            raise SandboxTimeout("wall-clock timeout after %s s" % (timeout or self._timeout)) from None
        except SandboxError:
            self._retire(warm.stop())
            raise
        if line is None:
            code_ = warm.proc.wait()
            self._retire(warm.finish_in_background())
            kind = _EXIT_ERRORS.get(code_, SandboxError)
            raise kind("the execution ended without a value (exit code %d): %s"
                       % (code_, warm.stderr_text(wait=True) or "no message"))
        try:
            return self._answer(warm, line)
        finally:
            # Only now: the execution's end takes its value directory with it.
            self._retire(warm.finish_in_background())

    def _answer(self, warm: _Warm, line: bytes) -> Any:
        """The value (or the exception) of the loader's line."""
        try:
            frame = _cli_loads(line)
        except (ValueError, RecursionError) as e:
            raise SandboxError("the sandbox wrote a value that is not JSON: %s" % e) from None
        if not isinstance(frame, dict):
            raise SandboxError("the sandbox wrote a malformed value")
        if frame.get("ok") and isinstance(frame.get("file"), dict) and warm.value_dir is not None:
            size = frame["file"].get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise SandboxError("the sandbox wrote a malformed value")
            data = read_value_file(warm.value_dir, size, self._limit)
            return decode_value_file(frame["file"].get("type"), data)
        if frame.get("ok"):
            value = frame.get("result")
            if frame.get("non_json") and isinstance(value, dict):
                from ._api import NonJSONValue
                return NonJSONValue(repr=str(value.get("repr", "")), type=str(value.get("type", "")))
            return _remote.decode_value(value)
        error = frame.get("error")
        if not isinstance(error, dict):
            raise SandboxError("the sandbox wrote a malformed error")
        if error.get("type") == "ResultTooLarge":
            raise SandboxError("ResultTooLarge: %s" % error.get("message", ""))
        raise RemoteError(str(error.get("type", "Exception")), str(error.get("message", "")),
                          str(error.get("traceback", "")))

    def execute_code(self, code: str, timeout: Optional[float] = None) -> Tuple[Any, Optional[BaseException]]:
        """Run a snippet in the next warm sandbox: ``(result, None)`` or
        ``(None, error)``, as :func:`execute_code`."""
        from ._api import _pair
        return _pair(lambda: self._call(code, timeout))

    async def aexecute_code(self, code: str, timeout: Optional[float] = None) -> Tuple[Any, Optional[BaseException]]:
        """:meth:`execute_code` for asyncio (on a thread of the default executor)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.execute_code, code, timeout)

    def close(self) -> None:
        """End the sandboxes still waiting; calls after this raise."""
        with self._cond:
            self._closed = True
            ready = list(self._ready)
            self._ready.clear()
            self._cond.notify_all()
        for warm in ready:
            warm.stop()
        for warm in ready:
            try:
                warm.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                warm.proc.kill()
                warm.proc.wait()
            warm.remove_value_dir()
        with self._cond:
            # A sandbox still starting is ended as soon as it is ready.
            self._cond.wait_for(lambda: self._starting == 0, timeout=330)
        with self._ending_lock:
            ending, self._ending = self._ending, []
        for thread in ending:
            thread.join(timeout=60)

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
