"""The ``%motorhead`` subcommand registry: each subcommand is one function that carries
its own help and arguments, so adding one touches one place (JupySQL's ``cmd/``).

    @command("export", "The messages as a pandas DataFrame.", SESSION, output("DataFrame"))
    def export(state, args): ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from ...errors import MotorheadError
from ..args import HelpShown, MagicArgumentParser, identifier
from ..state import NotebookState, one_line

Run = Callable[[NotebookState, argparse.Namespace], Any]


@dataclass(frozen=True)
class Argument:
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Argument:
    """One ``add_argument`` call, kept for the parser built on demand."""
    return Argument(flags, options)


SESSION = arg("--session", help="session id (default: the bound session)")


def output(what: str) -> Argument:
    return arg("-o", "--output", type=identifier, metavar="VAR",
               help=f"also store the {what} in this variable")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Run
    arguments: tuple[Argument, ...]
    raw_text: bool = False  # a rest that is not a flag goes unparsed into ``args.text``

    def parser(self) -> MagicArgumentParser:
        parser = MagicArgumentParser(f"%motorhead {self.name}", self.help)
        for argument in self.arguments:
            parser.add_argument(*argument.flags, **argument.options)
        return parser

    def __call__(self, state: NotebookState, rest: str) -> Any:
        if self.raw_text and rest and not rest.startswith("-"):
            args = self.parser().parse("")  # the defaults
            args.text = rest
        else:
            args = self.parser().parse(rest)
        try:
            return self.run(state, args)
        except MotorheadError as exc:
            raise UsageError(f"%motorhead {self.name}: {one_line(exc)}") from None


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, *arguments: Argument,
            raw_text: bool = False) -> Callable[[Run], Run]:
    """Register the decorated function as ``%motorhead NAME``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, run, arguments, raw_text)
        return run

    return register


CELL_USAGE = "%%motorhead [--session ID] [--model M] [--temperature T] [--no-stream] [-o VAR]"
SETTINGS = ("model, summary_model, window_size, session, url, stream, prompt, max_tokens, "
            "traceback")


def overview() -> str:
    names = [*COMMANDS, "help"]
    width = max(len(name) for name in names)
    lines = [
        CELL_USAGE,
        "    the rest of the cell is your message; the reply is the cell's value",
        "",
        "%motorhead SUBCOMMAND ...   (each takes --help)",
    ]
    lines += [f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items()]
    lines += [f"  {'help':<{width}}  Show this overview.",
              "", f"Settings: %config MotorheadMagics  ({SETTINGS})"]
    return "\n".join(lines)


def split_subcommand(line: str) -> tuple[str, str]:
    """``"export --all"`` -> ``("export", "--all")``; the rest is kept raw (a prompt
    text may contain quotes that shell-style splitting would reject)."""
    parts = line.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def run_line(state: NotebookState, line: str) -> Any:
    """``%motorhead LINE``: dispatch to the registered subcommand."""
    name, rest = split_subcommand(line)
    if name in ("", "help", "--help", "-h"):
        print(overview())
        return None
    found = COMMANDS.get(name)
    if found is None:
        raise UsageError(f"unknown subcommand {name!r}; one of: "
                         f"{', '.join([*COMMANDS, 'help'])} (see %motorhead help)")
    try:
        return found(state, rest)
    except HelpShown:
        return None
