"""The process that runs a learner's exercise file, so that nothing the file does can take the grader down.

Run by :mod:`convlab.exercises.sandbox` as a plain script (``python child.py
LEARNER_FILE CALLS RESULTS``), not as ``-m convlab…``: importing convlab would
compile and load its Numba kernels, and the learner's code must not see convlab
anyway. It imports only the standard library and NumPy.

It reads the calls to make (a pickle written by the grader: function names,
positional arguments, repeats, chains — never the expected answers), loads the
learner's file, and appends one pickled record per event to RESULTS, flushed at
once, so that the grader still knows how far it got when this process hangs, exits
or crashes:

- ``{"kind": "load", "status": "syntax_error" | "exception" | "missing_function" | "wrong_signature", ...}``
  when the file cannot be used (then nothing else runs);
- ``{"kind": "loaded"}``;
- ``{"kind": "start", "index": i}`` before each call, then
  ``{"kind": "result", "index": i, "outputs": [...], "mutated": [...], "seconds": s}`` or
  ``{"kind": "error", "index": i, "error": {...}}``;
- ``{"kind": "done"}``.

Outputs are reduced to plain data (arrays, numbers, strings, tuples, lists, dicts);
anything else becomes ``{"__opaque__": type name, "repr": ...}`` (an array of strings or
objects also gives its ``"dtype"``), so that the grader never unpickles a class the learner
defined. The grader words these for the learner, in the learner's language (this process
prints nothing and imports no convlab).
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import os
import pickle
import sys
import time
import traceback

import numpy as np

OPAQUE = "__opaque__"
_MAX_ITEMS = 1000

#: Put where a learner's ``__repr__`` or exception message fails; the grader shows these in the learner's language.
REPR_FAILED = "<repr failed>"
NO_MESSAGE = "<the exception's message could not be shown>"

#: The address space the learner's code may use: an array that grows without end raises MemoryError
#: here instead of pushing the learner's machine into swap. The exercises need a few MB.
MEMORY_LIMIT = 4 << 30


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not POSIX: no limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        except (ValueError, OSError):
            pass


#: Bytes the learner's code may print (stdout and stderr go to one file): a print inside an endless loop
#: would otherwise fill the disk before the time limit ends it.
OUTPUT_LIMIT = 64 << 20

#: Modules a learner's file should not need: the report notes it when the file imports one.
BORROWED = ("convlab", "scipy", "torch", "tensorflow", "keras", "jax")


def _limit_output() -> None:
    try:
        import resource
        import signal
    except ImportError:
        return
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, a write fails with EFBIG instead of killing
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft == resource.RLIM_INFINITY or soft > OUTPUT_LIMIT:
            resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, hard))
    except (ValueError, OSError, AttributeError):
        pass


def _plain(value, depth=0):
    """``value`` as plain, picklable data (see the module docstring)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return np.array(value)  # a copy: a view into a learner's module-level buffer would pickle its base
    if isinstance(value, np.generic):
        return value.item() if value.dtype.kind in "biufc" else str(value)
    if value is None:
        return None
    for base in (bool, int, float, complex, str):  # a learner's subclass (class Size(int)) as its base type:
        if isinstance(value, base):  # the grader must never unpickle a class defined in the learner's file
            return base(value)
    if depth < 4 and isinstance(value, (tuple, list)) and len(value) <= _MAX_ITEMS:
        items = [_plain(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if depth < 4 and isinstance(value, dict) and len(value) <= _MAX_ITEMS and all(isinstance(k, str) for k in value):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    try:
        text = repr(value)
    except Exception:  # a learner's __repr__ may raise too
        text = REPR_FAILED
    kind = type(value)
    name = kind.__name__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__name__}"
    if isinstance(value, np.ndarray):  # the grader words it: "a numpy.ndarray of dtype <U3"
        return {OPAQUE: "numpy.ndarray", "repr": text[:300], "dtype": str(value.dtype)}
    return {OPAQUE: name, "repr": text[:300]}


def _same(a, b) -> bool:
    """Whether an argument is unchanged after the call (arrays compared by value, NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return False


def _error(exc: BaseException, folder: str) -> dict:
    """An exception as data: its type, message, and the frames that are in the learner's files."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [
        {"file": f.filename, "line": f.lineno, "function": f.name, "code": (f.line or "").strip()}
        for f in frames
        # "<frozen importlib._bootstrap>" is no file: abspath would put it in the learner's folder
        if not f.filename.startswith("<") and os.path.dirname(os.path.abspath(f.filename)) == folder
    ]
    last = frames[-1] if frames else None
    try:
        message = str(exc)
    except Exception:
        message = NO_MESSAGE
    return {
        "type": type(exc).__name__,
        "message": message[:1000],
        "frames": mine,
        "raised_in": None if last is None else {"file": last.filename, "line": last.lineno, "function": last.name},
        "exit_code": exc.code if isinstance(exc, SystemExit) else None,
    }


class _Writer:
    def __init__(self, path):
        self._f = open(path, "ab")  # open for the process' whole life

    def __call__(self, record: dict) -> None:
        pickle.dump(record, self._f, protocol=pickle.HIGHEST_PROTOCOL)
        self._f.flush()


def _load(path: str, module_name: str, write) -> object | None:
    folder = os.path.dirname(path)
    with open(path, "rb") as f:
        source = f.read()
    try:
        compile(source, path, "exec")
    except SyntaxError as e:
        write(
            {
                "kind": "load",
                "status": "syntax_error",
                "message": e.msg,
                "file": e.filename or path,
                "line": e.lineno,
                "offset": e.offset,
                "text": (e.text or "").rstrip("\n"),
            }
        )
        return None
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:  # SystemExit and KeyboardInterrupt at import time are the learner's too
        write({"kind": "load", "status": "exception", "error": _error(e, folder)})
        return None
    return module


def _check_functions(module, functions: dict, write) -> dict | None:
    found = {}
    for name, params in functions.items():
        fn = getattr(module, name, None)
        if not callable(fn):
            defined = sorted(
                n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__
            )
            write({"kind": "load", "status": "missing_function", "function": name, "defined": defined})
            return None
        try:
            sig = inspect.signature(fn)
            sig.bind(*([None] * len(params)))
            ok = True
        except TypeError:
            ok = False
        except ValueError:  # no signature (a builtin): try the call
            sig, ok = None, True
        if not ok:
            code = getattr(fn, "__code__", None)
            write(
                {
                    "kind": "load",
                    "status": "wrong_signature",
                    "function": name,
                    "signature": f"{name}{sig}",
                    "line": code.co_firstlineno if code else None,
                }
            )
            return None
        found[name] = fn
    return found


def _call(fn, call: dict, folder: str) -> dict:
    """Run one call (with its repeats or its chain); the record to write."""
    index = call["index"]
    outputs, mutated = [], []
    t0 = time.perf_counter()
    try:
        chain = call.get("chain")
        if chain:
            args = list(copy.deepcopy(call["args"]))
            collected = []
            for step in range(chain["steps"]):
                if step < len(chain["batches"]):
                    for i, v in chain["batches"][step].items():
                        args[i] = copy.deepcopy(v)
                before = copy.deepcopy(args) if step == 0 else None
                result = fn(*args)
                if step == 0:
                    mutated = [i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)]
                collected.append(_plain(result[chain["collect"]]))
                for arg_i, res_i in chain["feed"]:
                    args[arg_i] = result[res_i]
            outputs.append(collected)
        else:
            for _repeat in range(call["repeat"]):
                args = copy.deepcopy(call["args"])
                before = copy.deepcopy(args)
                result = fn(*args)
                mutated = sorted(set(mutated) | {i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)})
                outputs.append(_plain(result))
    except BaseException as e:  # sys.exit() in a learner's function is their bug, not ours
        return {"kind": "error", "index": index, "error": _error(e, folder), "seconds": time.perf_counter() - t0}
    return {
        "kind": "result",
        "index": index,
        "outputs": outputs,
        "mutated": mutated,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str]) -> int:
    learner_file, calls_file, results_file = argv
    learner_file = os.path.abspath(learner_file)
    folder = os.path.dirname(learner_file)
    with open(calls_file, "rb") as f:
        job = pickle.load(f)
    write = _Writer(results_file)
    _limit_memory()
    _limit_output()
    sys.dont_write_bytecode = True  # no __pycache__ in the learner's folder
    sys.path.insert(0, folder)  # exercise 10 imports the learner's earlier files
    module = _load(learner_file, job["module"], write)
    if module is None:
        return 0
    functions = _check_functions(module, job["functions"], write)
    if functions is None:
        return 0
    borrowed = sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in BORROWED})
    write({"kind": "loaded", "borrowed": borrowed})
    for call in job["calls"]:
        write({"kind": "start", "index": call["index"]})
        write(_call(functions[call["function"]], call, folder))
    write({"kind": "done"})
    sys.stdout.flush()
    # Now, not at the interpreter's exit: a thread the learner started and left running would make it wait
    # for that thread, and the grader with it, until the time limit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
