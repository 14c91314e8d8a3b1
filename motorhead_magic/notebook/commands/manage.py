"""Changing what is stored, and waiting for the background work."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError

from ...memory import check_session_id
from ..state import NotebookState
from .registry import SESSION, arg, command
from .views import session_of


@command("delete", "Delete a session and everything in it, now and for good.",
         arg("session_id", nargs="?", metavar="ID",
             help="the session to delete (default: the bound session)"))
def delete(state: NotebookState, args: argparse.Namespace) -> None:
    session_id = check_session_id(args.session_id or state.session)
    if session_id not in state.memory.sessions():  # not an error: "make sure it is gone" holds
        print(f"no session {session_id!r}: nothing deleted (see %motorhead sessions)")
        return
    count = state.message_count(session_id)
    state.memory.delete(session_id)
    print(f"deleted session {session_id!r} ({count} messages)")


@command("wait", "Block until background summarization of a session is done.", SESSION,
         arg("--timeout", type=float, default=120.0,
             help="seconds to wait at most (default 120)"))
def wait(state: NotebookState, args: argparse.Namespace) -> None:
    session_id = session_of(state, args)
    memory = state.memory
    try:
        memory.wait(session_id, timeout=args.timeout)
    except TimeoutError as exc:
        raise UsageError(f"%motorhead wait: {exc}") from None
    error = memory.last_fold_error
    summaries = memory.summaries(session_id)
    print(f"session {session_id!r}: {len(summaries)} summaries"
          + (f"; the last attempt failed: {error}" if error else ""))
