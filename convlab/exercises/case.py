"""What a grader hands the framework: the cases to run, and what it says about a wrong answer.

A grader (one module per exercise in :mod:`convlab.exercises.graders`) builds a
list of :class:`Case` — the learner's function, its arguments, and what
convlab's ``reference`` backend returns for them — and, when the learner's
output is wrong, a :class:`Diagnosis`: a short code that tests can assert on,
and a message in plain words for the learner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Chain", "Diagnosis"]


@dataclass(frozen=True)
class Chain:
    """Call the function ``steps`` times, feeding each result back into the next call.

    After each call, for every ``(arg_index, result_index)`` in ``feed``, argument
    ``arg_index`` of the next call becomes ``result[result_index]``; ``batches``
    (optional) gives, per step, replacements ``{arg_index: value}`` (a new
    minibatch). The learner's output for the case is then the list of
    ``result[collect]`` over the steps (e.g. the losses).
    """

    steps: int
    feed: tuple[tuple[int, int], ...]
    collect: int
    batches: tuple[dict[int, Any], ...] = ()


@dataclass(frozen=True)
class Case:
    """One call of the learner's function, and the answer it must give.

    Attributes:
        name: shown in the report, e.g. ``"slide: 5×5 image ⋆ sharpen kernel"``.
        function: the learner's function to call (one of the exercise's functions).
        args: positional arguments; every call gets fresh deep copies, so a function that
            changes its inputs cannot spoil the next case (it fails this one).
        expected: the reference answer: an ``ndarray``, an ``int``, a ``float``, a tuple of
            those (several outputs), or a dict of arrays. Never sent to the learner's process.
        slide: a case with the slides' numbers: its output is shown in full when it passes.
        output_names: names for the outputs, e.g. ``("dx", "dkernel", "dbias")``; one name for
            a single output (default ``("out",)``).
        repeat: call the function this many times on fresh copies; every answer must be the
            same (a backward pass that accumulates across calls fails on the second).
        chain: call it repeatedly, feeding results back (see :class:`Chain`); the grader's
            ``judge`` decides, as there is no single expected value.
        tolerance: pass when ``max |got − expected| <= tolerance · max(|expected|, 1)``
            for every output (exact for integers).
        context: whatever the grader's ``diagnose`` needs (stride, padding, …).
    """

    name: str
    function: str
    args: tuple
    expected: Any = None
    slide: bool = False
    output_names: tuple[str, ...] = ("out",)
    repeat: int = 1
    chain: Chain | None = None
    tolerance: float = 1e-6
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, in plain words.

    Attributes:
        code: a stable identifier tests assert on: ``"flipped_kernel"``, ``"stride_ignored"``,
            ``"wrong_shape"``, ``"first_wrong"``, ``"accumulates"``, ``"not_implemented"`` …
        message: one or more lines for the learner (no traceback; point at their file and line
            where there is one).
    """

    code: str
    message: str
