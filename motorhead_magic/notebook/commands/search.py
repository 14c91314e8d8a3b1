"""Long-term memory: find the messages of a session by words, by meaning, or both."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from ...memory.base import MAX_HITS, SEARCH_MODES
from ..args import count
from ..render import SearchReport
from ..state import NotebookState
from .registry import SESSION, arg, command, output
from .views import session_of


@command("search", "Find a session's messages relevant to TEXT, folded or not, best first.",
         arg("text", nargs="+", metavar="TEXT", help="what to look for (quotes keep a "
             "phrase with an apostrophe together)"),
         arg("-k", type=count(1, MAX_HITS), default=10, metavar="N",
             help="how many messages at most (default 10)"),
         SESSION,
         arg("--mode", choices=SEARCH_MODES, help="keyword (words, always there), semantic "
             "or hybrid (meaning: need %%config MotorheadMagics.embeddings); default: "
             "hybrid with an embedder, else keyword"),
         output("DataFrame of the hits"))
def search(state: NotebookState, args: argparse.Namespace) -> Any:
    session_id = session_of(state, args)
    memory = state.memory
    mode = args.mode
    if hasattr(memory, "embedder"):  # a local store: the mode is ours to say (a server's is its)
        mode = mode or ("keyword" if memory.embedder is None else "hybrid")
        if mode != "keyword" and memory.embedder is None:
            raise UsageError(f"%motorhead search: {mode} search needs an embedder: "
                             "%config MotorheadMagics.embeddings = 'local' (or --mode keyword)")
    text = " ".join(args.text)
    found = memory.search_result(session_id, text, args.k, mode=mode)
    report = SearchReport(found.hits, text=text, session_id=session_id, mode=found.ranking,
                          note=found.note)
    if args.output:
        state.user_ns[args.output] = report.frame
        print(report.headline() + (f"\nnote: {found.note}" if found.note else ""))
        return None
    return report
