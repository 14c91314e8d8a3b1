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

from ...errors import MotorheadError, did_you_mean
from ..args import HelpShown, MagicArgumentParser, cell_parser, identifier
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
        return _parser_of(self)

    def build_parser(self) -> MagicArgumentParser:
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


_PARSERS: dict[str, MagicArgumentParser] = {}


def _parser_of(found: Command) -> MagicArgumentParser:
    """Each command's parser, built once (argparse is stateless per parse)."""
    if found.name not in _PARSERS:
        _PARSERS[found.name] = found.build_parser()
    return _PARSERS[found.name]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, *arguments: Argument,
            raw_text: bool = False) -> Callable[[Run], Run]:
    """Register the decorated function as ``%motorhead NAME``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, run, arguments, raw_text)
        return run

    return register


SETTINGS = ("model, summary_model, window_size, session, url, stream, prompt, max_tokens, "
            "traceback, prices, recall, embeddings")


def cell_help() -> list[str]:
    """The cell magic's usage and flags, from its parser (``%%motorhead --help`` cannot
    be asked: IPython refuses a cell magic without a body)."""
    parser = cell_parser()
    usage = " ".join(parser.format_usage().removeprefix("usage: ").split())
    lines = [usage.replace(" [-h]", ""),
             "    the rest of the cell is your message, sent as written: never"
             " {var}-interpolated; the reply is the cell's value"]
    for action in parser._actions:
        if action.help and action.option_strings and "-h" not in action.option_strings:
            flags = ", ".join(action.option_strings)
            metavar = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
            lines.append(f"  {flags + metavar:<18}{action.help}")
    return lines


def overview() -> str:
    names = [*COMMANDS, "help"]
    width = max(len(name) for name in names)
    lines = [*cell_help(), "", "%motorhead SUBCOMMAND ...   (each takes --help)"]
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
        names = [*COMMANDS, "help"]
        hint = did_you_mean(name, names) or f"; one of: {', '.join(names)}"
        raise UsageError(f"unknown subcommand {name!r}{hint} (see %motorhead help)")
    try:
        return found(state, rest)
    except HelpShown:
        return None


def completions(line: str) -> list[str]:
    """Tab completion of ``%motorhead`` subcommands and of every command's flags (and of
    the cell magic's flags); IPython keeps those that start with the typed word."""
    words = line.split()
    typing_first = len(words) == 1 or (len(words) == 2 and not line.endswith(" "))
    if words and words[0] == "%%motorhead":
        return _flags(cell_parser())
    if typing_first:
        return [*COMMANDS, "help"]
    found = COMMANDS.get(words[1]) if len(words) > 1 else None
    return _flags(found.parser()) if found else []


def _flags(parser: MagicArgumentParser) -> list[str]:
    return [flag for flag in parser._option_string_actions if flag.startswith("--")]
