"""Experiments: fork a conversation, replay it through another setting, adopt a reply
of a comparison, and see what each turn cost and what its model saw."""

from __future__ import annotations

import argparse
import time
from typing import Any

from IPython.core.error import UsageError

from ...memory import check_session_id
from ..args import identifier
from ..render import StatusLine, progress_bar
from ..state import NotebookState
from .registry import SESSION, arg, command, output
from .views import session_of, stored_or_shown


@command("fork", "Copy the bound session (up to --at SEQ) into a new session that then "
         "evolves on its own.",
         arg("new_id", metavar="NEW_ID", help="the new session's id"),
         arg("--at", type=int, metavar="SEQ", help="the last message to copy (default: all)"),
         SESSION,
         arg("--switch", action="store_true", help="bind this notebook to the fork"))
def fork(state: NotebookState, args: argparse.Namespace) -> None:
    source = session_of(state, args)
    new_id = state.memory.fork(source, args.new_id, at=args.at)
    count = state.message_count(new_id)
    print(f"forked {source!r} into {new_id!r} ({count} messages"
          + (f", through #{args.at}" if args.at is not None else "") + ")")
    if args.switch:
        state.settings.session = new_id
        print(f"bound to session {new_id!r}")


@command("replay", "Send a session's human messages, in order, through another model, "
         "prompt or memory setting into a new session; a DataFrame compares the replies.",
         arg("source", metavar="SOURCE_ID", help="the session to replay"),
         arg("--model", metavar="M", help="the model (default: the notebook's)"),
         arg("--prompt", metavar="P", help="a variable holding a template, or the template"),
         arg("--window-size", dest="window_size", type=int, metavar="W",
             help="the replay's window size (default: the notebook's)"),
         arg("--summary-model", dest="summary_model", metavar="S",
             help="the replay's summary model (default: the notebook's)"),
         arg("--as", dest="new_id", metavar="NEW_ID", help="the new session's id"),
         output("DataFrame"))
def replay(state: NotebookState, args: argparse.Namespace) -> Any:
    from ...chat.experiments import replay as run_replay
    from ...chat.models import resolve_summarizer

    source = check_session_id(args.source)
    model = state.chat_model(args.model).model
    prompt = state.user_ns.get(args.prompt, args.prompt) if args.prompt else state.prompt()
    summarizer = (resolve_summarizer(args.summary_model, state.user_ns)
                  if args.summary_model else None)
    status = StatusLine(state.kernel)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        status.show(progress_bar("replaying", done, total, time.monotonic() - started))

    try:
        frame = run_replay(state.memory, source, model, prompt=prompt,
                           window_size=args.window_size, summarizer=summarizer,
                           new_id=args.new_id, namespace=state.user_ns, on_progress=progress)
    except KeyboardInterrupt:
        raise UsageError("replay interrupted: the turns done so far are stored, each whole"
                         ) from None
    print(f"replayed {len(frame)} turns of {source!r} into {frame.attrs['session_id']!r}")
    return stored_or_shown(state, frame, args.output)


@command("adopt", "Store one reply of the last %%motorhead --compare as the turn.",
         arg("choice", metavar="N_OR_MODEL", help="the row number or the model's label"))
def adopt(state: NotebookState, args: argparse.Namespace) -> Any:
    from ...chat.experiments import adopt as store_choice

    comparison = state.last_comparison
    if comparison is None:
        raise UsageError("%motorhead adopt: no comparison yet: run %%motorhead --compare "
                         "M1,M2 first")
    session_id = comparison.attrs["comparison"].session_id
    reply = store_choice(state.memory, session_id, comparison, args.choice)
    state.last_comparison = None  # adopted: the session moved, the comparison is spent
    print(f"stored the reply of {args.choice!r} as the turn of {session_id!r}")
    return reply


@command("usage", "The usage ledger: tokens and time of every chat and summary call.",
         SESSION, arg("--all", action="store_true", help="every session"), output("DataFrame"))
def usage(state: NotebookState, args: argparse.Namespace) -> Any:
    frame = state.memory.usage_dataframe(None if args.all else session_of(state, args))
    prices = state.settings.prices or {}
    if prices:
        from ...memory.frames import with_cost

        frame = with_cost(frame, prices)
    return stored_or_shown(state, frame, args.output)


@command("seen", "The exact messages the model received for a turn, by source.",
         arg("seq", nargs="?", type=int, metavar="SEQ",
             help="the AI message of the turn (default: the last turn)"),
         SESSION, arg("-o", "--output", type=identifier, metavar="VAR",
                       help="also store the messages (a list) in this variable"))
def seen(state: NotebookState, args: argparse.Namespace) -> Any:
    from ...chat.ledger import seen as rebuild
    from ..render import SeenReport

    parts = rebuild(state.memory, session_of(state, args), args.seq)
    if args.output:
        state.user_ns[args.output] = parts
    return SeenReport(parts)
