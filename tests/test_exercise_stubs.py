"""The exercise stubs a learner starts from (``convlab/exercises/stubs/exNN_<slug>.py``, exercises 1–9).

What a stub promises (issue 14; the catalogue ``convlab.teach.exercise_catalogue``):

- it compiles, and defines exactly the catalogue's functions with the catalogue's parameter
  names, in order, with no defaults (the grader calls them positionally);
- each function raises ``NotImplementedError("exercise N: write <function> here")`` — what
  ``convlab check`` reports as "not implemented yet";
- its module docstring states the task and ends with the ``convlab check N`` line;
- it contains no answer: the module is a docstring, ``import numpy as np`` and the functions,
  and each function's body is its docstring and the ``raise`` — no loop, no call such as
  ``np.pad``/``np.einsum``/``np.max``, and no such names in the text either.

Exercise 10's stub (written with its grader) imports the learner's own files and is checked there.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import convlab.exercises
from convlab.teach.exercise_catalogue import EXERCISES, get_exercise, parse_signature

STUBS = Path(convlab.exercises.__file__).parent / "stubs"
NUMBERS = tuple(range(1, 10))

# Plausible arguments for every function: the shapes its docstring asks for.
ARGS = {
    "output_size": (5, 3, 1, 2),
    "correlate2d": (np.ones((5, 5)), np.ones((3, 3))),
    "zero_pad": (np.ones((1, 5, 5, 3)), 1),
    "conv2d": (np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2)), np.zeros(2), 2, 1),
    "max_pool2d": (np.ones((1, 4, 4, 1)), 2, None),
    "relu": (np.ones((2, 3)),),
    "softmax": (np.ones((2, 3)),),
    "flatten": (np.ones((2, 3, 3, 2)),),
    "dense": (np.ones((2, 4)), np.ones((4, 3)), np.zeros(3)),
    "conv2d_backward": (np.ones((1, 3, 3, 2)), np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2)), 2, 1),
    "max_pool2d_backward": (np.ones((1, 2, 2, 1)), np.ones((1, 4, 4, 1)), 2, None),
}

# Text that would hand over the solution (or a library doing it) rather than state the task.
GIVEAWAYS = (
    "np.pad",
    "einsum",
    "tensordot",
    "np.max",
    ".max(",
    "argmax",
    "np.maximum",
    "np.dot",
    "matmul",
    "reshape",
    "transpose",
    "sliding_window_view",
    "as_strided",
    "keepdims",
    "subtract",
    "range(",
    "scipy",
    "convlab.",
    "import convlab",
)


def stub_path(number: int) -> Path:
    return STUBS / get_exercise(number).file_name


def load_stub(number: int):
    """Import a stub from its path, as a learner's file is imported (not through the package)."""
    ex = get_exercise(number)
    spec = importlib.util.spec_from_file_location(f"_stub_{ex.module_name}", stub_path(number))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_stub(number: int) -> ast.Module:
    path = stub_path(number)
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def test_every_stub_file_is_a_catalogue_exercise():
    names = {ex.file_name for ex in EXERCISES}
    stray = sorted(p.name for p in STUBS.glob("*.py") if p.name not in names)
    assert not stray, f"files in {STUBS} that no catalogue exercise names: {stray}"


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_exists_and_compiles(number):
    path = stub_path(number)
    assert path.is_file(), f"missing stub {path}"
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_defines_the_catalogue_functions(number):
    ex = get_exercise(number)
    module = load_stub(number)
    own = module.__name__
    defined = [name for name, obj in vars(module).items() if inspect.isfunction(obj) and obj.__module__ == own]
    assert defined == list(ex.function_names)
    for signature in ex.functions:
        name, params = parse_signature(signature)
        sig = inspect.signature(getattr(module, name))
        assert tuple(sig.parameters) == params, f"{name}{sig} does not match the catalogue's {signature}"
        for p in sig.parameters.values():
            assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, f"{name}: {p.name} is {p.kind}"
            assert p.default is inspect.Parameter.empty, f"{name}: {p.name} has a default"


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_functions_raise_not_implemented(number):
    ex = get_exercise(number)
    module = load_stub(number)
    for name in ex.function_names:
        func = getattr(module, name)
        args = ARGS[name]
        inspect.signature(func).bind(*args)  # the arguments fit the signature
        with pytest.raises(NotImplementedError) as info:
            func(*args)
        assert str(info.value) == f"exercise {number}: write {name} here"


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_docstrings(number):
    ex = get_exercise(number)
    tree = parse_stub(number)
    doc = ast.get_docstring(tree)
    assert doc, "the stub has no module docstring"
    lines = doc.splitlines()
    assert lines[0].startswith(f"Exercise {number} — "), lines[0]
    assert 5 <= len(lines) <= 20, f"the task should take 5–15 lines; the docstring has {len(lines)}"
    assert f"convlab check {number}" in doc
    assert lines[-1] == f"Check it with: convlab check {number}   (convlab check {number} --hint for a hint)"
    for name in ex.function_names:
        func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        func_doc = ast.get_docstring(func)
        assert func_doc and "Returns:" in func_doc, f"{name} needs a docstring with Args/Returns"
        if func.args.args:
            assert "Args:" in func_doc, f"{name}'s docstring does not describe its arguments"


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_module_holds_no_code(number):
    """Top level: the docstring, at most ``import numpy as np``, then the functions — nothing else."""
    tree = parse_stub(number)
    body = tree.body
    assert is_docstring(body[0])
    for node in body[1:]:
        if isinstance(node, ast.Import):
            assert [(a.name, a.asname) for a in node.names] == [("numpy", "np")], ast.unparse(node)
        else:
            assert isinstance(node, ast.FunctionDef), f"line {node.lineno}: {ast.unparse(node)[:80]}"
    assert isinstance(body[-1], ast.FunctionDef)


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_function_bodies_are_docstring_and_raise(number):
    tree = parse_stub(number)
    for func in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        assert not func.decorator_list, f"{func.name} is decorated"
        assert len(func.body) == 2, f"{func.name}: the body should be its docstring and the raise"
        doc, stmt = func.body
        assert is_docstring(doc)
        assert isinstance(stmt, ast.Raise) and isinstance(stmt.exc, ast.Call), ast.unparse(stmt)
        assert isinstance(stmt.exc.func, ast.Name) and stmt.exc.func.id == "NotImplementedError"
        assert [type(a) for a in stmt.exc.args] == [ast.Constant] and not stmt.exc.keywords


@pytest.mark.parametrize("number", NUMBERS)
def test_stub_contains_no_solution(number):
    """Belt and braces beside the body check: no loop or computing call anywhere, no giveaway in the text."""
    tree = parse_stub(number)
    loops = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
    for node in ast.walk(tree):
        assert not isinstance(node, loops), f"line {node.lineno}: {ast.unparse(node)[:80]}"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id == "NotImplementedError", ast.unparse(node)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np":
            # numpy appears only in annotations (np.ndarray), never as a function
            assert node.attr == "ndarray", ast.unparse(node)
    text = stub_path(number).read_text(encoding="utf-8")
    for word in GIVEAWAYS:
        assert word not in text, f"the stub's text mentions {word!r}"
    assert not re.search(r"\bfor \w+ in\b", text), "the stub's text sketches a loop"
