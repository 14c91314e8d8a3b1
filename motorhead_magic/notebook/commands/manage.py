"""Changing what is stored, and waiting for the background work."""

from __future__ import annotations

import argparse
import time

from IPython.core.error import UsageError

from ...memory import check_session_id
from ...memory.base import check_timeout
from ..render import StatusLine
from ..state import NotebookState
from .registry import SESSION, arg, command
from .views import session_of

WAIT_SLICE = 0.5  # seconds between progress updates while waiting


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


@command("wait", "Block until background summarization of a session is done, showing "
         "its progress.", SESSION,
         arg("--timeout", type=float, default=120.0,
             help="seconds to wait at most (default 120)"))
def wait(state: NotebookState, args: argparse.Namespace) -> None:
    session_id = session_of(state, args)
    memory = state.memory
    status = StatusLine(state.kernel)
    deadline = time.monotonic() + check_timeout(args.timeout)
    try:
        while True:  # in slices, so the progress shows while it moves
            try:
                memory.wait(session_id, timeout=min(WAIT_SLICE, deadline - time.monotonic()))
                break
            except TimeoutError as exc:
                if time.monotonic() >= deadline:
                    raise UsageError(f"%motorhead wait: {exc}") from None
                status.show("; ".join(p.describe() for p in memory.progress(session_id)))
    finally:
        status.clear()
    pending = [p.describe() for p in memory.progress(session_id)]
    summaries = memory.summaries(session_id)
    error = memory.last_fold_error
    print(f"session {session_id!r}: {len(summaries)} summaries"
          + (f"; {pending[0]}" if pending else f"; the last attempt failed: {error}"
             if error else ""))
