"""The ``%motorhead`` subcommands, one registered function each, grouped by what they
do; importing this package registers them all (in the order ``help`` lists them)."""

from __future__ import annotations

from . import choices, experiments, manage, search, views  # noqa: F401  (registration)
from .registry import COMMANDS, overview, run_line

SUBCOMMANDS = {name: found.help for name, found in COMMANDS.items()} | {
    "help": "Show this overview."}

__all__ = ["COMMANDS", "SUBCOMMANDS", "overview", "run_line"]
