"""Sending a function or an object into a sandbox, and reading its value back.

Host -> sandbox: the source of the function or class (and of what it uses
from its own module), ``import`` lines for the modules it uses, and a pickle
of the arguments, the other globals and the object's state. The sandbox is
free to unpickle what the host sent; numpy arrays travel inside that pickle
as ``.npy`` bytes, so the two sides need not have the same numpy.

Sandbox -> host: never a pickle. The value is JSON (the CLI's result
object; Python's ``json`` keeps integers exact), and a numpy array in it is
an ``.npy`` file in base64, read with ``numpy.load(allow_pickle=False)``.
"""

from __future__ import annotations

import ast
import base64
import builtins
import inspect
import io
import pickle
import sys
import textwrap
import types
from typing import Any, Callable, Dict, List, Set, Tuple

from .errors import SandboxError

ENTRY = "__sandbox_tui_entry__"
NDARRAY_TAG = "__sandbox_tui_ndarray__"
DECORATOR_NAMES = {"sandbox_run"}

# Defined in the sandbox, before the user's code: the unpickler that turns
# .npy bytes back into arrays and finds classes the code itself defines, and
# the encoder of the value.
PRELUDE = '''
import base64 as _stui_b64, io as _stui_io, pickle as _stui_pickle, sys as _stui_sys

class _StuiUnpickler(_stui_pickle.Unpickler):
    def persistent_load(self, pid):
        import numpy
        array = numpy.load(_stui_io.BytesIO(pid[1]), allow_pickle=False)
        return array[()] if pid[0] == "npy-scalar" else array

    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if name in globals():
                return globals()[name]
            raise

def _stui_encode(value, depth=0):
    if depth > 200:
        return value
    kind = type(value)
    if kind in (list, tuple):
        return [_stui_encode(v, depth + 1) for v in value]
    if kind is dict:
        return {k: _stui_encode(v, depth + 1) for k, v in value.items()}
    numpy = _stui_sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray) and value.dtype != object:
            buf = _stui_io.BytesIO()
            numpy.save(buf, value, allow_pickle=False)
            return {"%s": _stui_b64.b64encode(buf.getvalue()).decode("ascii")}
        if isinstance(value, numpy.generic):
            return value.item()
    return value

_stui_payload = _StuiUnpickler(_stui_io.BytesIO(_stui_b64.b64decode(%r))).load()
globals().update(_stui_payload["globals"])
'''

# Compiled under the runner's own file name, so that the runner leaves this
# frame out of a traceback as it leaves out its own.
ENTRY_FUNCTION = '''
exec(compile(%r, getattr(_stui_sys.modules["__main__"], "__file__", "<sandbox-tui>"), "exec"), globals())
'''
ENTRY_SOURCE = '''
def %s():
    payload = _stui_payload
    if payload["kind"] == "method":
        cls = globals()[payload["class"]]
        target = cls.__new__(cls)
        target.__dict__.update(payload["state"])
        func = getattr(target, payload["name"])
    else:
        func = globals()[payload["name"]]
    value = func(*payload["args"], **payload["kwargs"])
    # A warm pool's loader encodes the value itself (a large one as a file).
    return value if globals().get("_stui_raw") else _stui_encode(value)
''' % ENTRY
ENTRY_FUNCTION = ENTRY_FUNCTION % ENTRY_SOURCE


class _NpyPickler(pickle.Pickler):
    """Pickles numpy arrays as .npy bytes, which any numpy version reads."""

    def persistent_id(self, obj: Any) -> Any:
        numpy = sys.modules.get("numpy")
        if numpy is None:
            return None
        if type(obj) is numpy.ndarray and obj.dtype != object:
            return ("npy", _npy(numpy, obj))
        if isinstance(obj, numpy.generic) and not isinstance(obj, numpy.object_):
            return ("npy-scalar", _npy(numpy, numpy.asarray(obj)))
        return None


def _npy(numpy: Any, array: Any) -> bytes:
    buf = io.BytesIO()
    numpy.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _pickle(value: Any, what: str) -> bytes:
    buf = io.BytesIO()
    try:
        _NpyPickler(buf, protocol=4).dump(value)
    except Exception as e:
        raise SandboxError("cannot send %s into the sandbox: it cannot be pickled (%s)" % (what, e)) from None
    return buf.getvalue()


def _is_sandbox_decorator(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr in DECORATOR_NAMES
    return isinstance(node, ast.Name) and node.id in DECORATOR_NAMES


def _clean_source(obj: Any) -> str:
    """The source of a function or class, dedented, without sandbox_run decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        raise SandboxError(
            "cannot send %s into the sandbox: its source is not available (define it in a file, "
            "not at an interactive prompt)" % _describe(obj)
        ) from None
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = [d for d in node.decorator_list if not _is_sandbox_decorator(d)]
    return ast.unparse(tree)


def _describe(obj: Any) -> str:
    return "%s %s" % (type(obj).__name__, getattr(obj, "__qualname__", repr(obj)))


def _code_names(code: types.CodeType) -> Set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _unwrap(value: Any) -> Any:
    return getattr(value, "__sandbox_tui_wrapped__", value)


class _Bundle:
    """What one call needs in the sandbox: imports, sources, pickled globals."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.imports: List[str] = []
        self.sources: List[str] = []
        self.globals: Dict[str, Any] = {}
        self.seen: Set[int] = set()

    def add_function(self, func: Callable[..., Any]) -> None:
        func = _unwrap(func)
        if id(func) in self.seen:
            return
        self.seen.add(id(func))
        if not isinstance(func, types.FunctionType):
            raise SandboxError("cannot send %s into the sandbox: only plain functions and methods" % _describe(func))
        if func.__name__ == "<lambda>":
            raise SandboxError("cannot send a lambda into the sandbox: define it with def")
        if func.__closure__:
            names = ", ".join(func.__code__.co_freevars)
            raise SandboxError(
                "cannot send %s into the sandbox: it is a closure over %s; define it at module "
                "level and pass those values as arguments" % (func.__qualname__, names)
            )
        if "<locals>" in func.__qualname__:
            raise SandboxError(
                "cannot send %s into the sandbox: it is defined inside another function; "
                "define it at module level" % func.__qualname__
            )
        self.add_globals(func.__code__, func.__globals__)
        self.sources.append(_clean_source(func))

    def add_class(self, cls: type) -> None:
        if id(cls) in self.seen:
            return
        self.seen.add(id(cls))
        if "<locals>" in cls.__qualname__:
            raise SandboxError(
                "cannot send class %s into the sandbox: it is defined inside a function; "
                "define it at module level" % cls.__qualname__
            )
        module = sys.modules.get(cls.__module__)
        namespace = vars(module) if module is not None else {}
        for base in cls.__bases__:
            if base is not object:
                self.add_global(base.__name__, base, namespace)
        for value in vars(cls).values():
            for func in _functions_of(value):
                if func.__closure__:
                    raise SandboxError(
                        "cannot send class %s into the sandbox: method %s is a closure"
                        % (cls.__qualname__, func.__name__)
                    )
                self.add_globals(func.__code__, func.__globals__)
        self.sources.append(_clean_source(cls))

    def add_globals(self, code: types.CodeType, namespace: Dict[str, Any]) -> None:
        for name in sorted(_code_names(code)):
            if name in namespace:
                self.add_global(name, namespace[name], namespace)

    def add_global(self, name: str, value: Any, namespace: Dict[str, Any]) -> None:
        value = _unwrap(value)
        if name in self.globals or id(value) in self.seen:
            return
        if isinstance(value, types.ModuleType):
            if value.__name__ == name:
                line = "import %s" % name
            elif "." in value.__name__ and value.__name__.rsplit(".", 1)[1] == name:
                parent, child = value.__name__.rsplit(".", 1)
                line = "from %s import %s" % (parent, child)
            else:
                line = "import %s as %s" % (value.__name__, name)
            if line not in self.imports:
                self.imports.append(line)
            return
        if isinstance(value, (types.FunctionType, type)):
            home = getattr(value, "__module__", None)
            if home in (self.module, "__main__") or home == namespace.get("__name__"):
                if isinstance(value, type):
                    self.add_class(value)
                else:
                    self.add_function(value)
                return
            if home and getattr(value, "__qualname__", None) == name and not home.startswith("_"):
                self.imports.append("from %s import %s" % (home, name))
                return
        if isinstance(value, types.BuiltinFunctionType) and getattr(value, "__module__", None):
            self.imports.append("from %s import %s" % (value.__module__, value.__name__))
            return
        if getattr(builtins, name, None) is value:
            return
        try:
            _pickle(value, "global %r" % name)
        except SandboxError:
            # co_names also holds attribute names, which may match an
            # unrelated global: the sandbox reports a NameError if it was needed.
            return
        self.globals[name] = value

    def code(self, payload: Dict[str, Any]) -> str:
        payload["globals"] = self.globals
        blob = base64.b64encode(_pickle(payload, "the arguments")).decode("ascii")
        parts = [PRELUDE % (NDARRAY_TAG, blob)]
        parts += self.imports
        parts += self.sources
        parts.append(ENTRY_FUNCTION)
        return "\n".join(parts) + "\n"


def _functions_of(value: Any) -> List[types.FunctionType]:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    value = _unwrap(value)
    return [value] if isinstance(value, types.FunctionType) else []


def function_call(func: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> str:
    """The code that calls ``func(*args, **kwargs)`` in the sandbox (run with --call ENTRY)."""
    func = _unwrap(func)
    bundle = _Bundle(getattr(func, "__module__", "__main__"))
    bundle.add_function(func)
    return bundle.code({"kind": "function", "name": func.__name__, "args": tuple(args), "kwargs": dict(kwargs)})


def method_call(obj: Any, method: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> str:
    """The code that rebuilds ``obj`` from its class's source and its state and
    calls ``obj.method(*args, **kwargs)`` in the sandbox."""
    cls = type(obj)
    if not callable(getattr(cls, method, None)):
        raise SandboxError("%s has no method %r" % (cls.__qualname__, method))
    if not hasattr(obj, "__dict__"):
        raise SandboxError("cannot send %s into the sandbox: it has no __dict__ to carry its state" % cls.__qualname__)
    bundle = _Bundle(cls.__module__)
    bundle.add_class(cls)
    return bundle.code({
        "kind": "method", "class": cls.__name__, "name": method,
        "state": dict(vars(obj)), "args": tuple(args), "kwargs": dict(kwargs),
    })


def decode_value(value: Any) -> Any:
    """The value as the host sees it: .npy payloads become numpy arrays."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and NDARRAY_TAG in value:
            # What the sandbox sent is untrusted: a bad file is an error of
            # the execution, and allow_pickle=False keeps objects out.
            try:
                data = base64.b64decode(value[NDARRAY_TAG], validate=True)
            except (TypeError, ValueError) as e:
                raise SandboxError("the sandbox returned a malformed array: %s" % e) from None
            try:
                import numpy
            except ImportError:
                return data  # the .npy file itself
            try:
                return numpy.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise SandboxError("the sandbox returned a malformed array: %s" % e) from None
        return {k: decode_value(v) for k, v in value.items()}
    return value
