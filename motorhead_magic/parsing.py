"""Argument parsing for the magics that never exits the kernel.

argparse calls ``sys.exit`` on ``--help`` and on bad flags; here a bad flag raises a
one-line ``UsageError`` and ``--help`` prints the help and raises :class:`HelpShown`,
which the magic swallows.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError


class HelpShown(Exception):
    """``--help`` was printed; the magic should return quietly."""


class MagicArgumentParser(argparse.ArgumentParser):
    def __init__(self, prog: str, description: str, **kwargs: Any) -> None:
        super().__init__(prog=prog, description=description, add_help=True,
                         allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

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


def split_subcommand(line: str) -> tuple[str, str]:
    """``"export --all"`` -> ``("export", "--all")``; the rest is kept raw (a prompt
    text may contain quotes that shell-style splitting would reject)."""
    parts = line.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"expected a temperature from 0 to 2, got {value}")
    return value


def identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid variable name")
    return text


def cell_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(
        "%%motorhead",
        "One chat turn: the cell body is the human message. The reply streams into the "
        "output and is the cell's value; the Human and AI messages are stored together "
        "once the reply is complete.",
    )
    parser.add_argument("--session", help="session id for this turn (default: the bound one)")
    parser.add_argument("--model", help='"local", an OpenAI model name, or a variable '
                        "holding a LangChain chat model (this turn only)")
    parser.add_argument("--temperature", type=temperature, help="sampling temperature, 0-2")
    parser.add_argument("--no-stream", dest="stream", action="store_false", default=None,
                        help="wait for the whole reply instead of streaming it")
    parser.add_argument("-o", "--output", type=identifier, metavar="VAR",
                        help="also store the reply in this variable")
    return parser


def _session_option(parser: MagicArgumentParser) -> None:
    parser.add_argument("--session", help="session id (default: the bound session)")


def _output_option(parser: MagicArgumentParser, what: str) -> None:
    parser.add_argument("-o", "--output", type=identifier, metavar="VAR",
                        help=f"also store the {what} in this variable")


def subcommand_parser(name: str) -> MagicArgumentParser | None:
    """The parser of ``%motorhead NAME`` (None: no such subcommand)."""
    describe = SUBCOMMANDS.get(name)
    if describe is None:
        return None
    parser = MagicArgumentParser(f"%motorhead {name}", describe)
    if name == "connect":
        parser.add_argument("url", nargs="?", help="sqlite:///abs/path.db, redis://host:port/db"
                            " or http(s)://host:port (default: the embedded store)")
    elif name == "session":
        parser.add_argument("session_id", nargs="?", metavar="ID", help="the session to bind")
    elif name == "model":
        parser.add_argument("choice", nargs="?", metavar="NAME_OR_VARIABLE",
                            help='"local", an OpenAI model name, or a variable holding a '
                            "LangChain chat model")
        parser.add_argument("--reset", action="store_true",
                            help="forget the choice (back to %%config / env / default)")
    elif name == "prompt":
        parser.add_argument("text", nargs="*", metavar="VARIABLE_OR_TEXT",
                            help="a variable holding a template string or a LangChain prompt,"
                            r" or the template itself (\n for new lines)")
        parser.add_argument("--reset", action="store_true", help="back to the default prompt")
    elif name in ("memory", "panel", "wait"):
        _session_option(parser)
        if name == "wait":
            parser.add_argument("--timeout", type=float, default=120.0,
                                help="seconds to wait at most (default 120)")
    elif name == "export":
        _session_option(parser)
        parser.add_argument("--all", action="store_true", help="every session, not just one")
        parser.add_argument("--summaries", action="store_true",
                            help="the summaries instead of the messages")
        _output_option(parser, "DataFrame")
    elif name == "sessions":
        _output_option(parser, "DataFrame")
    elif name == "delete":
        parser.add_argument("session_id", nargs="?", metavar="ID",
                            help="the session to delete (default: the bound session)")
    return parser


SUBCOMMANDS = {
    "connect": "Use another memory backend (no URL: the embedded SQLite store).",
    "session": "Bind this notebook to a session (created on the first turn); "
               "without ID, show the bound one.",
    "model": "Choose the chat model for the following turns; without a name, show it.",
    "prompt": "Set the prompt template ({chat_history}, {human_input}, optional {context}); "
              "without arguments, show it.",
    "memory": "Show the running summary and the window of a session.",
    "panel": "Open the live panel of a session (text in a terminal).",
    "export": "The messages (or summaries) as a pandas DataFrame.",
    "sessions": "Every session as a pandas DataFrame.",
    "delete": "Delete a session and everything in it, now and for good.",
    "wait": "Block until background summarization of a session is done.",
    "help": "Show this overview.",
}


def overview() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [
        "%%motorhead [--session ID] [--model M] [--temperature T] [--no-stream] [-o VAR]",
        "    the rest of the cell is your message; the reply is the cell's value",
        "",
        "%motorhead SUBCOMMAND ...   (each takes --help)",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "Settings: %config MotorheadMagics  (model, summary_model, window_size, "
              "session, url, stream, prompt, max_tokens, traceback)"]
    return "\n".join(lines)
