"""The exercises a learner solves and ``convlab check`` grades: numbers, files, functions, lessons.

Pure data, one entry per exercise, read by the lesson harness (each lesson ends
by naming its exercises), by ``convlab exercises`` (which copies the stubs) and by
the grader (:mod:`convlab.exercises`). Exercise ``N`` lives in the learner's file
``exNN_<slug>.py``; its stub ships in ``convlab/exercises/stubs/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convlab.util.i18n import N_

__all__ = ["Exercise", "EXERCISES", "get_exercise", "exercises_for_lesson", "parse_signature"]


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Attributes:
        number: 1, 2, … (``convlab check 2``).
        slug: the file name's tail: ``ex02_correlate2d.py`` has slug ``correlate2d``.
        title: one line, shown in reports and at the end of lessons (English; marked for the
            catalogs: show it with ``_(exercise.title)``).
        functions: the learner's functions as signatures, ``"correlate2d(image, kernel)"``; the
            grader calls them with positional arguments in this order.
        lessons: the lessons (numbers) this exercise goes with.
        timeout: seconds the learner's code may run for all of this exercise's cases together.
    """

    number: int
    slug: str
    title: str
    functions: tuple[str, ...]
    lessons: tuple[int, ...]
    timeout: float = 20.0

    @property
    def file_name(self) -> str:
        return f"ex{self.number:02d}_{self.slug}.py"

    @property
    def module_name(self) -> str:
        return f"ex{self.number:02d}_{self.slug}"

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(parse_signature(f)[0] for f in self.functions)


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        1,
        "output_size",
        N_("the output size T = (N + 2P − K)/S + 1"),
        ("output_size(n, kernel_size, padding, stride)",),
        (5, 12),
    ),
    Exercise(2, "correlate2d", N_("cross-correlation of one channel by hand"), ("correlate2d(image, kernel)",), (2, 3)),
    Exercise(3, "zero_pad", N_("zero padding"), ("zero_pad(x, padding)",), (1, 3, 4)),
    Exercise(
        4,
        "conv2d",
        N_("multi-channel convolution with stride, padding and bias"),
        ("conv2d(x, kernel, bias, stride, padding)",),
        (4, 10),
    ),
    Exercise(5, "max_pool", N_("max pooling, forward"), ("max_pool2d(x, pool_size, stride)",), (6,)),
    Exercise(6, "activations", N_("ReLU and a numerically stable softmax"), ("relu(x)", "softmax(z)"), (5, 6, 8)),
    Exercise(7, "dense", N_("Flatten and a Dense layer, forward"), ("flatten(x)", "dense(x, kernel, bias)"), (8, 9)),
    Exercise(
        8,
        "conv_backward",
        N_("convolution backward: dx, dkernel and dbias, with stride"),
        ("conv2d_backward(dy, x, kernel, stride, padding)",),
        (7,),
    ),
    Exercise(
        9,
        "max_pool_backward",
        N_("max pooling backward, with TensorFlow's rule for ties"),
        ("max_pool2d_backward(dy, x, pool_size, stride)",),
        (6, 7),
    ),
    Exercise(
        10,
        "train_step",
        N_("a training step of a tiny CNN made of your functions"),
        ("train_step(params, x, y, learning_rate)",),
        (8, 9, 11, 13),
        timeout=120.0,
    ),
)

_SIGNATURE_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$")


def parse_signature(signature: str) -> tuple[str, tuple[str, ...]]:
    """``"conv2d(x, kernel, bias)"`` → ``("conv2d", ("x", "kernel", "bias"))``."""
    m = _SIGNATURE_RE.match(signature)
    if not m:
        raise ValueError(f"not a signature: {signature!r}")
    params = tuple(p.strip() for p in m.group(2).split(",") if p.strip())
    return m.group(1), params


def get_exercise(token: int | str) -> Exercise:
    """The exercise a user means: ``2``, ``"2"``, ``"02"``, ``"correlate2d"`` or ``"ex02_correlate2d"``.

    Raises:
        ValueError: no exercise matches (the message lists them).
    """
    tok = str(token).strip().lower().removesuffix(".py")
    for ex in EXERCISES:
        if (tok.isdigit() and int(tok) == ex.number) or tok in (ex.slug, ex.module_name):
            return ex
    names = ", ".join(f"{ex.number} ({ex.slug})" for ex in EXERCISES)
    raise ValueError(f"no exercise matches {token!r}; there are: {names}")


def exercises_for_lesson(lesson_number: int) -> tuple[Exercise, ...]:
    """The exercises that go with lesson ``lesson_number`` (possibly none)."""
    return tuple(ex for ex in EXERCISES if lesson_number in ex.lessons)
