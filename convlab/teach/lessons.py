"""Where the lesson scripts are: the repository's ``lessons/NN_name.py``, next to the ``convlab`` package.

Shared by ``convlab lesson`` / ``convlab tour`` (:mod:`convlab.cli`) and the explorer's lesson pages
(:mod:`convlab.web.lessons`). The lessons ship with the source repository, not with a wheel: an editable
install (``pip install -e .`` from a clone) has them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LESSON_GLOB", "find_lessons", "lessons_dir", "repo_root"]

#: A lesson script's name: two digits, an underscore, a name (``03_convolution_by_hand.py``).
LESSON_GLOB = "[0-9][0-9]_*.py"


def repo_root() -> Path:
    """The folder that holds the ``convlab`` package (the repository root for an editable install)."""
    return Path(__file__).resolve().parents[2]


def lessons_dir(override: str | os.PathLike | None = None, *, hint: str = "or pass --lessons DIR") -> Path:
    """The folder holding the lesson scripts.

    Args:
        override: a folder given by the user (``--lessons DIR``), or ``None`` for the
            repository's ``lessons/`` next to the installed package
            (``Path(convlab.__file__).resolve().parents[1] / "lessons"``).
        hint: the message's last words (the CLI's ``--lessons DIR``; a caller without that option
            passes its own, or ``""``).

    Returns:
        The folder's ``Path``.

    Raises:
        FileNotFoundError: the folder does not exist (the message says how to get it).
    """
    path = Path(override) if override is not None else repo_root() / "lessons"
    if not path.is_dir():
        raise FileNotFoundError(
            f"no lessons folder at {path}: the lessons ship with convlab's source repository, not with "
            f"the package — clone the repository and install it with `pip install -e .`" + (f", {hint}" if hint else "")
        )
    return path


def find_lessons(folder: Path) -> list[Path]:
    """Every ``NN_name.py`` script in ``folder``, sorted by name (so by number)."""
    return sorted(p for p in Path(folder).glob(LESSON_GLOB) if p.is_file())
