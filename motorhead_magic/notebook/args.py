"""Argument parsing for the magics that never exits the kernel.

argparse calls ``sys.exit`` on ``--help`` and on bad flags; here a bad flag raises a
one-line ``UsageError`` and ``--help`` prints the help and raises :class:`HelpShown`,
which the magic swallows.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

from IPython.core.error import UsageError

from ..errors import did_you_mean
from ..memory.base import MAX_HITS


class HelpShown(Exception):
    """``--help`` was printed; the magic should return quietly."""


class MagicArgumentParser(argparse.ArgumentParser):
    def __init__(self, prog: str, description: str, **kwargs: Any) -> None:
        super().__init__(prog=prog, description=description, add_help=True,
                         allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line: what is wrong, a suggestion for a mistyped flag, where help is
        (``%%motorhead --help`` cannot work: IPython refuses a cell magic without a body)."""
        if message.startswith("unrecognized arguments: "):
            first = message.removeprefix("unrecognized arguments: ").split()[0]
            if first.startswith("-"):
                message += did_you_mean(first, self._option_string_actions)
        where = "%motorhead help" if self.prog.startswith("%%") else f"{self.prog} --help"
        raise UsageError(f"{self.prog}: {message} (see {where})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(f"{self.prog}: {(message or 'invalid arguments').strip()}")
        raise HelpShown()

    def parse(self, line: str) -> argparse.Namespace:
        """Parse a magic's line, shell-style (quotes group words)."""
        try:
            words = shlex.split(line, posix=True)
        except ValueError as exc:
            raise UsageError(f"{self.prog}: {exc}") from None
        return self.parse_args(words)


def temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"expected a temperature from 0 to 2, got {value}")
    return value


def count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low} to {high}, got {value}")
        return value

    return parse


def identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid variable name")
    return text


@cache
def cell_parser() -> MagicArgumentParser:
    """The ``%%motorhead`` line's parser, built once (argparse is stateless per parse)."""
    return _cell_parser()


def _cell_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(
        "%%motorhead",
        "One chat turn: the cell body is the human message. The reply streams into the "
        "output and is the cell's value; the Human and AI messages are stored together "
        "once the reply is complete.",
    )
    parser.add_argument("--session", metavar="ID",
                        help="session id for this turn (default: the bound one)")
    parser.add_argument("--model", metavar="M", help='"local", an OpenAI model name, or a variable '
                        "holding a LangChain chat model (this turn only)")
    parser.add_argument("--temperature", type=temperature, metavar="T",
                        help="sampling temperature, 0-2")
    parser.add_argument("--no-stream", dest="stream", action="store_false", default=None,
                        help="wait for the whole reply instead of streaming it")
    parser.add_argument("--recall", type=count(0, MAX_HITS), metavar="K",
                        help="also give the model up to K earlier messages relevant to this one"
                        " (this turn only; default: the recall setting)")
    parser.add_argument("--compare", metavar="M1,M2,...",
                        help="send the message to these models from the same memory, side by"
                        " side; nothing is stored (%%motorhead adopt N keeps one)")
    parser.add_argument("-o", "--output", type=identifier, metavar="VAR",
                        help="also store the reply in this variable")
    return parser
