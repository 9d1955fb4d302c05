"""Command-line parsing shared by ``convlab`` and the lesson scripts: one-line usage errors.

argparse prints the whole usage block before a usage error. A learner reads the
last line, and a script that parses stderr wants one line per failure, so every
convlab parser reports a bad invocation as exactly one line on stderr that
names the bad token and where the help is, and exits with status 2 (the Unix
convention for a usage error, as argparse itself uses).
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from convlab.util.i18n import _

__all__ = ["OneLineArgumentParser", "one_line", "int_at_least", "positive_seconds"]


def one_line(text: object) -> str:
    """``str(text)`` with its line breaks folded into spaces, so an error stays one line."""
    return " ".join(str(text).split())


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose usage errors are one line: ``PROG: error: MESSAGE (see `PROG --help`)``.

    Subparsers made with ``add_subparsers`` are of the same class (argparse's default),
    so every subcommand reports its errors the same way. The exit status is 2.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own headings and help texts, in convlab's language (its messages are English gettext
        # strings of Python's own domain, which ships no Spanish catalog).
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = _("show this help message and exit")

    def add_subparsers(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("title", None)
        return super().add_subparsers(**kwargs)

    def _usage_formatter(self) -> argparse.HelpFormatter:
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups, prefix=_("usage: "))
        return formatter

    def format_usage(self) -> str:
        return self._usage_formatter().format_help()

    def format_help(self) -> str:
        formatter = self._usage_formatter()
        formatter.add_text(self.description)
        for group in self._action_groups:
            formatter.start_section(group.title)
            formatter.add_text(group.description)
            formatter.add_arguments(group._group_actions)
            formatter.end_section()
        formatter.add_text(self.epilog)
        return formatter.format_help()

    def error(self, message: str) -> NoReturn:
        text = _("{prog}: error: {message} (see `{prog} --help`)")
        self.exit(2, text.format(prog=self.prog, message=one_line(message)) + "\n")


def int_at_least(name: str, minimum: int):
    """An argparse ``type``: an int ≥ ``minimum``, refused with a message naming ``name`` and the token.

    Raises (inside argparse, which turns it into a usage error):
        argparse.ArgumentTypeError: not an int, or below ``minimum``.
    """
    wanted = "a positive int (>= 1)" if minimum == 1 else f"an int >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also Python's limit on the digits of an int (4,300)
            shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}… ({len(text)} characters)"
            raise argparse.ArgumentTypeError(f"{name} must be {wanted}, got {shown}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be {wanted}, got {text!r}")
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def positive_seconds(name: str):
    """An argparse ``type``: a finite number of seconds > 0, refused with a message naming ``name``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds > 0, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds > 0, got {text!r}")
        return value

    parse.__name__ = name
    return parse
