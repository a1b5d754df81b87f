"""sandbox-tui's Python runner: runs a snippet and writes its value or its
exception as JSON to a pipe the supervisor reads, never to stdout (so
nothing the snippet prints can pass for the result).

argv: runner.py CODE_FILE RESULT_FD MAX_RESULT_BYTES CALL_JSON
CALL_JSON, present only for --call: {"call": "name" | "Class.method",
                                     "args": [...], "kwargs": {...}}
"""
# Every import here is paid by every snippet, and the usual ones are dear:
# `ast` pulls in enum, contextlib and collections; `json` and `linecache`
# (through tokenize) pull in `re`. So the tree is built with the C parser's
# own node types, a plain value is written without `json`, the snippet is
# compiled under its file's real path (so `linecache` finds its lines only
# when a traceback needs them), and the rest is imported on the way to an
# error or a value that needs it.
import _ast
import math
import os
import sys

FILENAME = "<snippet>"
RUNNER = os.path.abspath(__file__)
# Lists and dicts nested deeper than this come back as their repr: the
# supervisor's JSON reader stops at 128 levels, and the value is read back
# inside the execution's own JSON (python/mod.rs, MAX_DEPTH).
MAX_DEPTH = 100
INFINITY = float("inf")

# What json.dumps escapes in a string (ensure_ascii=False).
_JSON_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_JSON_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n",
                      ord("\r"): "\\r", ord("\t"): "\\t"})


def write_result(fd, payload):
    """Everything to the pipe. When the supervisor stopped reading (more
    than max_result_mb came) it reports that itself; a traceback here would
    show only the runner's frames."""
    view = memoryview(payload)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        sys.exit(1)


def utf8_text(text):
    """`text` as it can travel in UTF-8 JSON: lone surrogates escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def needs_repr(value):
    """Whether the JSON of `value` could not be read back as it is: a NaN
    or an infinity, or lists and dicts nested deeper than MAX_DEPTH (a
    cycle among them too). A loop, not recursion: any depth is safe."""
    stack = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth = pop()
        if isinstance(value, dict):
            items = value.values()
        elif isinstance(value, (list, tuple)):
            items = value
        elif isinstance(value, float):
            if value != value or value == INFINITY or value == -INFINITY:
                return True
            continue
        else:
            continue
        if depth == MAX_DEPTH:
            return True
        depth += 1
        for item in items:
            kind = type(item)
            if kind is not str and kind is not int:
                push((item, depth))
    return False


def plain_json(value):
    """JSON for None, a bool, an int, a finite float or a str, as json.dumps
    writes it; None for anything else."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if kind is str:
        return '"' + value.translate(_JSON_ESCAPES) + '"'
    return None


def encode_value(value):
    """The value as UTF-8 JSON, or a flagged repr when JSON cannot hold it
    (a string with a lone surrogate is not UTF-8, so JSON cannot either)."""
    # The value is the snippet's, whole: an int of any size comes back
    # exact (Python 3.11+ refuses to write one over 4300 digits unless told;
    # the snippet has ended, so lifting that guard here costs it nothing,
    # and max_result_mb bounds what is sent).
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    try:
        if needs_repr(value):
            raise ValueError("NaN, infinity or too deep")
        plain = plain_json(value)
        if plain is not None:
            text = '{"ok": true, "result": %s, "non_json": false}' % plain
        else:
            import json
            text = json.dumps({"ok": True, "result": value, "non_json": False},
                              allow_nan=False, ensure_ascii=False)
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError, OverflowError):
        import json
        try:
            text = repr(value)
        except Exception as exc:  # a broken __repr__ must not lose the result
            text = "<unrepresentable: %s>" % type(exc).__name__
        return json.dumps({"ok": True, "non_json": True,
                           "result": {"repr": utf8_text(text),
                                      "type": utf8_text(type(value).__name__)}},
                          ensure_ascii=False).encode("utf-8")


def user_traceback(exc, code_file):
    """Only the snippet's frames, with the snippet's own line numbers, under
    the snippet's name rather than its file's."""
    import traceback
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != RUNNER]
    for frame in frames:
        if frame.filename == code_file:
            frame.filename = FILENAME
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def encode_error(exc, code_file):
    import json
    if isinstance(exc, SyntaxError) and exc.filename == code_file:
        exc.filename = FILENAME
    try:
        message = str(exc)
    except Exception as inner:  # a broken __str__ must not lose the error
        message = "<unprintable %s: %s>" % (type(exc).__name__, type(inner).__name__)
    info = {"type": utf8_text(type(exc).__name__), "message": utf8_text(message),
            "traceback": utf8_text(user_traceback(exc, code_file))}
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno
    return json.dumps({"ok": False, "error": info}, ensure_ascii=False).encode("utf-8")


def located(node):
    node.lineno = 1
    node.col_offset = 0
    return node


def compile_body(source, code_file):
    """The snippet is the body of a function, so `return` works; the
    function's nodes keep the snippet's own line numbers."""
    tree = compile(source, code_file, "exec", _ast.PyCF_ONLY_AST)
    body = tree.body or [located(_ast.Pass())]
    fields = dict(name="__snippet__", args=_ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
        kwarg=None, defaults=[]), body=body, decorator_list=[], returns=None)
    if "type_params" in _ast.FunctionDef._fields:  # Python 3.12+
        fields["type_params"] = []
    func = located(_ast.FunctionDef(**fields))
    module = _ast.Module(body=[func], type_ignores=[])
    return compile(module, code_file, "exec")


def main():
    code_file, result_fd, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # For the runner alone: no program the snippet starts inherits the pipe.
    os.set_inheritable(result_fd, False)
    call = {}
    if os.path.exists(sys.argv[4]):
        import json
        # Arguments are the caller's: an int of any size, exact. The guard
        # (Python 3.11+: 4300 digits) is back on before the snippet runs.
        guard = getattr(sys, "get_int_max_str_digits", lambda: None)()
        if guard is not None:
            sys.set_int_max_str_digits(0)
        with open(sys.argv[4], encoding="utf-8") as f:
            call = json.load(f)
        if guard is not None:
            sys.set_int_max_str_digits(guard)
    with open(code_file, encoding="utf-8") as f:
        source = f.read()
    # The code runs in a real `__main__` module, as a script does, so that
    # pickle finds its functions and classes (multiprocessing needs that).
    module = type(sys)("__main__")
    if call.get("call"):
        # Where multiprocessing's spawn and forkserver workers import it from.
        module.__file__ = code_file
    sys.modules["__main__"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = __builtins__
    sys.argv = [FILENAME]
    try:
        if call.get("call"):
            exec(compile(source, code_file, "exec"), namespace)
            target = call["call"]
            if "." in target:
                cls_name, method = target.split(".", 1)
                if cls_name not in namespace:
                    raise NameError("class %r is not defined by the code" % cls_name)
                func = getattr(namespace[cls_name](), method)
            else:
                if target not in namespace:
                    raise NameError("function %r is not defined by the code" % target)
                func = namespace[target]
            value = func(*call.get("args", []), **call.get("kwargs", {}))
        else:
            exec(compile_body(source, code_file), namespace)
            value = namespace["__snippet__"]()
        payload = encode_value(value)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are results too
        payload = encode_error(exc, code_file)
        ok = False
    else:
        ok = True
    size = len(payload)
    if size > limit:
        import json
        payload = json.dumps({"ok": False, "error": {
            "type": "ResultTooLarge",
            "message": "the result is %.1f MB, over max_result_mb = %.0f MB"
                       % (size / 1048576, limit / 1048576),
            "traceback": ""}}).encode("utf-8")
        ok = False
    sys.stdout.flush()
    sys.stderr.flush()
    write_result(result_fd, payload)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
