"""sandbox-tui's Python runner: runs a snippet and writes its value or its
exception to a result file, never to stdout (so nothing the snippet prints
can pass for the result).

argv: runner.py CODE_FILE RESULT_FILE CALL_JSON
CALL_JSON: {"call": null | "name" | "Class.method", "args": [...], "kwargs": {...},
            "max_result_bytes": int}
"""
import ast
import json
import linecache
import math
import os
import sys
import traceback

FILENAME = "<snippet>"
RUNNER = os.path.abspath(__file__)


def write_result(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(payload)
    os.replace(tmp, path)


def has_nan(value):
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, dict):
        return any(has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_nan(v) for v in value)
    return False


def encode_value(value):
    """The value as JSON, or a flagged repr when JSON cannot hold it."""
    try:
        if has_nan(value):
            raise ValueError("NaN or infinity")
        return json.dumps({"ok": True, "result": value, "non_json": False},
                          allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError, OverflowError):
        try:
            text = repr(value)
        except Exception as exc:  # a broken __repr__ must not lose the result
            text = "<unrepresentable: %s>" % type(exc).__name__
        return json.dumps({"ok": True, "non_json": True,
                           "result": {"repr": text, "type": type(value).__name__}})


def user_traceback(exc):
    """Only the snippet's frames, with the snippet's own line numbers."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != RUNNER]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def encode_error(exc):
    info = {"type": type(exc).__name__, "message": str(exc),
            "traceback": user_traceback(exc)}
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno
        info["traceback"] = "".join(traceback.format_exception_only(type(exc), exc))
    return json.dumps({"ok": False, "error": info})


def compile_body(source):
    """The snippet is the body of a function, so `return` works; the
    function's nodes keep the snippet's own line numbers."""
    tree = ast.parse(source, FILENAME, "exec")
    body = tree.body or [ast.Pass()]
    fields = dict(name="__snippet__", args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
        kwarg=None, defaults=[]), body=body, decorator_list=[], returns=None)
    if "type_params" in ast.FunctionDef._fields:  # Python 3.12+
        fields["type_params"] = []
    func = ast.FunctionDef(**fields)
    func.lineno = 1
    func.col_offset = 0
    module = ast.Module(body=[func], type_ignores=[])
    ast.fix_missing_locations(module)
    return compile(module, FILENAME, "exec")


def main():
    code_file, result_file, call_json = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(call_json, encoding="utf-8") as f:
        call = json.load(f)
    with open(code_file, encoding="utf-8") as f:
        source = f.read()
    # Tracebacks show the snippet's source lines.
    linecache.cache[FILENAME] = (len(source), None, source.splitlines(True), FILENAME)
    limit = int(call.get("max_result_bytes", 16 * 1024 * 1024))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.argv = [FILENAME]
    try:
        if call.get("call"):
            exec(compile(source, FILENAME, "exec"), namespace)
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
            exec(compile_body(source), namespace)
            value = namespace["__snippet__"]()
        payload = encode_value(value)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are results too
        payload = encode_error(exc)
        ok = False
    else:
        ok = True
    size = len(payload.encode("utf-8"))
    if size > limit:
        payload = json.dumps({"ok": False, "error": {
            "type": "ResultTooLarge",
            "message": "the result is %.1f MB, over max_result_mb = %.0f MB"
                       % (size / 1048576, limit / 1048576),
            "traceback": ""}})
        ok = False
    sys.stdout.flush()
    sys.stderr.flush()
    write_result(result_file, payload)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
