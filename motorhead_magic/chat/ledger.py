"""What the model saw: the exact messages of a past turn, rebuilt from its provenance.

Every AI message of a chat turn carries its ledger in its metadata (written by
:func:`~motorhead_magic.chat.turn.run_turn`): the template or system text, the summary
in force, the window's seqs and the seqs of the earlier messages recalled for it. The
usage ledger itself (tokens and time per call) is :meth:`Memory.usage_dataframe`, built
in the memory layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..memory import Memory, check_session_id
from ..records import MemoryView, Message, Summary
from .turn import build_messages


@dataclass(frozen=True)
class SeenPart:
    """One message the model received, with where it came from."""

    source: str  # "system", "summary v3", "window #12", "recalled #4", "input #13"
    role: str
    content: str


def _turn(memory: Memory, session_id: str, seq: int | None) -> tuple[Message, Message]:
    """The AI message ``seq`` (default: the last turn's) and the human input before it."""
    if seq is None:
        last = memory.get(session_id).message_count - 1
        candidates = memory.history(session_id, max(0, last - 20), 21)
        turns = [m for m in candidates if "seen" in m.metadata]
        if not turns:
            raise InvalidInput(f"session {session_id!r} has no recorded turn in its last "
                               "messages; name one: %motorhead seen SEQ")
        reply = turns[-1]
    else:
        found = memory.history(session_id, seq, 1)
        if not found or "seen" not in found[0].metadata:
            raise InvalidInput(f"message #{seq} of {session_id!r} is not the reply of a "
                               "recorded turn")
        reply = found[0]
    human = memory.history(session_id, max(0, reply.seq - 1), 1)
    if reply.seq == 0 or not human:
        raise InvalidInput(f"message #{reply.seq} has no human input before it")
    return reply, human[0]


def seen(memory: Memory, session_id: str, seq: int | None = None) -> list[SeenPart]:
    """The exact messages the model received for a turn, rebuilt from its provenance
    and labelled by where each came from."""
    check_session_id(session_id)
    reply, human = _turn(memory, session_id, seq)
    record = reply.metadata["seen"]
    summary, version = _summary_of(memory, session_id, record.get("summary"))
    window = _messages(memory, session_id, record.get("window") or [])
    recalled = _messages(memory, session_id, record.get("retrieved") or [])
    view = MemoryView(session_id, window, summary.context if summary else None, 0, summary)
    prompt = record.get("system")
    kind = reply.metadata.get("prompt", {}).get("kind", "default")
    template = prompt if kind == "template" else None
    built = build_messages(view, human.content, template, recalled)
    if kind == "default" or kind == "template":
        return _label(built, view, version, human, template is not None, recalled)
    # A LangChain prompt cannot be rebuilt from a hash: show its parts as recorded.
    parts = [SeenPart(f"summary v{version}", "system", summary.context)] if summary else []
    parts += [SeenPart(f"recalled #{m.seq}", m.role, m.content) for m in recalled]
    parts += [SeenPart(f"window #{m.seq}", m.role, m.content) for m in window]
    return parts + [SeenPart(f"input #{human.seq}", human.role, human.content)]


def recalled_label(recalled: list[Message]) -> str:
    """``recalled #4, #9`` (empty without any)."""
    return "recalled " + ", ".join(f"#{m.seq}" for m in recalled) if recalled else ""


def _label(built: list[Any], view: MemoryView, version: int | None, human: Message,
           template: bool, recalled: list[Message]) -> list[SeenPart]:
    summary = [f"summary v{version}"] if view.summary else []
    earlier = [recalled_label(recalled)] if recalled else []
    if template:  # one message holds everything: label it by what went in
        sources = ["template", *summary, *earlier]
        if view.messages:
            sources.append(f"window #{view.messages[0].seq}–#{view.messages[-1].seq}")
        sources.append(f"input #{human.seq}")
        return [SeenPart(" + ".join(sources), "human", built[0].content)]
    system = built[0]
    parts = [SeenPart(" + ".join(["system", *summary, *earlier]), "system", system.content)]
    parts += [SeenPart(f"window #{m.seq}", m.role, m.content) for m in view.messages]
    return parts + [SeenPart(f"input #{human.seq}", human.role, human.content)]


def _summary_of(memory: Memory, session_id: str, recorded: dict[str, Any] | None
                ) -> tuple[Summary | None, int | None]:
    """The summary a turn used, and its version (1 = the first summary)."""
    if not recorded:
        return None, None
    for index, summary in enumerate(memory.summaries(session_id)):
        if (summary.through_seq == recorded["through_seq"]
                and summary.created_at.isoformat() == recorded["created_at"]):
            return summary, index + 1
    raise InvalidInput("the summary this turn used is gone (the session was deleted and "
                       "written again?)")


def _messages(memory: Memory, session_id: str, seqs: list[int]) -> list[Message]:
    """The messages of ``seqs``, in that order: one read per run of consecutive seqs
    (a window is one run; recalled messages are a few, far apart)."""
    found: dict[int, Message] = {}
    ordered = sorted(set(seqs))
    start = 0
    for index, seq in enumerate(ordered):
        if index + 1 == len(ordered) or ordered[index + 1] != seq + 1:
            first = ordered[start]
            found.update((m.seq, m) for m in memory.history(session_id, first, seq - first + 1))
            start = index + 1
    return [found[seq] for seq in seqs if seq in found]
