"""One chat turn: summary + recalled earlier messages + window + the human input -> the
model, streamed; then both messages are stored together.

Modern LangChain only: message lists and ``model.stream`` / ``model.invoke``. User
text (cell bodies, stored messages, summaries) is only ever *substituted into* a
prompt, never parsed as one, so braces, JSON, code, ``$`` and quotes are inert.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ..errors import EmptyReply, InvalidInput, TurnInterrupted
from ..memory import Memory
from ..memory.base import MAX_HITS
from ..memory.tokens import count_tokens
from ..records import AI, HUMAN, MemoryView, Message, content_text, role_kind

SYSTEM_PROMPT = "You are a chatbot having a conversation with a human."
SUMMARY_HEADING = "Summary of the conversation so far:"
RETRIEVED_HEADING = "Earlier messages that may be relevant:"
# The seed's template: a plain string with {chat_history} and {human_input}.
SEED_TEMPLATE = SYSTEM_PROMPT + "\n{chat_history}\nHuman: {human_input}\nAI:"
TEMPLATE_VARIABLES = ("chat_history", "human_input", "context", "retrieved")
TURN_MARKER = "\nHuman:"
_PLACEHOLDER = re.compile(r"\{(chat_history|human_input|context|retrieved)\}")
MAX_RECALL = MAX_HITS  # as many as one search returns

log = logging.getLogger("motorhead_magic")


def current_context(view: MemoryView) -> str | None:
    """The running summary, or None (Motörhead's summarizer answers ``NONE`` when the
    lines were meaningless)."""
    context = (view.context or "").strip()
    return None if not context or context == "NONE" else context


_AS_LANGCHAIN = {"human": HumanMessage, "ai": AIMessage, "system": SystemMessage}


def _as_message(message: Message) -> BaseMessage:
    kind = _AS_LANGCHAIN.get(role_kind(message.role))
    if kind is None:
        return HumanMessage(f"{message.role}: {message.content}")  # keep who said it
    return kind(message.content)


def history_messages(view: MemoryView) -> list[BaseMessage]:
    return [_as_message(m) for m in view.messages]


def retrieved_text(retrieved: Sequence[Message]) -> str:
    """The recalled messages as one labelled block, chronological, each line dated (UTC,
    so a rebuild anywhere gives the same text): ``[2026-11-30 14:02] Human: ...``;
    empty without any."""
    if not retrieved:
        return ""
    lines = [f"[{m.created_at.astimezone(timezone.utc):%Y-%m-%d %H:%M}] {m.role}: {m.content}"
             for m in retrieved]
    return "\n".join([RETRIEVED_HEADING, *lines])


def history_text(view: MemoryView, *, with_summary: bool, retrieved: str = "") -> str:
    """``Role: content`` lines (the seed's ``{chat_history}``); the summary (and the
    recalled block) lead when the template has no ``{context}`` (``{retrieved}``) of its
    own, so that folded turns are not forgotten."""
    lines = [f"{m.role}: {m.content}" for m in view.messages]
    if retrieved:
        lines.insert(0, retrieved)
    context = current_context(view)
    if with_summary and context:
        lines.insert(0, f"{SUMMARY_HEADING} {context}")
    return "\n".join(lines)


def check_template(template: str) -> str:
    if "{human_input}" not in template:
        raise InvalidInput("a prompt template needs {human_input} (and usually {chat_history};"
                           " {context} and {retrieved} are optional)")
    return template


def render_template(template: str, values: dict[str, str]) -> str:
    """Fill only our placeholders, in one pass over the template: other braces
    (JSON examples, code) stay as written and filled-in text is never re-scanned."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""),
                            check_template(template))


def _placeholder_names(prompt: Any) -> set[str]:
    names = set()
    for part in getattr(prompt, "messages", []):
        name = getattr(part, "variable_name", None)  # a MessagesPlaceholder
        if name:
            names.add(name)
    return names


def build_messages(view: MemoryView, human_input: str, prompt: Any = None,
                   retrieved: Sequence[Message] = ()) -> list[BaseMessage]:
    """The exact messages the model receives for this turn. ``retrieved``: earlier
    messages recalled for it (:func:`recall_messages`), shown after the summary and before the
    window; a template places them with ``{retrieved}``, else they lead its history."""
    context = current_context(view)
    recalled = retrieved_text(retrieved)
    if prompt is None:
        system = SYSTEM_PROMPT + (f"\n\n{SUMMARY_HEADING}\n{context}" if context else "")
        system += f"\n\n{recalled}" if recalled else ""
        return [SystemMessage(system), *history_messages(view), HumanMessage(human_input)]
    if isinstance(prompt, str):
        text = render_template(prompt, {
            "chat_history": history_text(view, with_summary="{context}" not in prompt,
                                         retrieved="" if "{retrieved}" in prompt else recalled),
            "human_input": human_input,
            "context": context or "",
            "retrieved": recalled,
        })
        return [HumanMessage(text)]
    if callable(getattr(prompt, "invoke", None)) and hasattr(prompt, "input_variables"):
        wanted = set(prompt.input_variables)
        unknown = wanted - set(TEMPLATE_VARIABLES)
        if unknown:
            raise InvalidInput(f"the prompt asks for variables we cannot fill: "
                               f"{', '.join(sorted(unknown))} (we supply {TEMPLATE_VARIABLES})")
        with_summary = "context" not in wanted
        leading = "" if "retrieved" in wanted else recalled
        if "chat_history" in _placeholder_names(prompt):
            history: Any = history_messages(view)
            if leading:
                history.insert(0, SystemMessage(leading))
            if with_summary and context:
                history.insert(0, SystemMessage(f"{SUMMARY_HEADING}\n{context}"))
        else:
            history = history_text(view, with_summary=with_summary, retrieved=leading)
        values: dict[str, Any] = {
            "chat_history": history,
            "human_input": human_input,
            "context": context or "",
            "retrieved": recalled,
        }
        return prompt.invoke({k: v for k, v in values.items() if k in wanted}).to_messages()
    raise InvalidInput(f"a prompt must be a template string or a LangChain prompt template, "
                       f"got {type(prompt).__name__}")


def _without_partial_marker(text: str, marker: str | None) -> str:
    """Hold back a tail that may be the start of ``marker`` (not shown, maybe cut)."""
    if marker:
        for size in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:size]):
                return text[:-size]
    return text


def prompt_identity(prompt: Any) -> dict[str, str]:
    """Which prompt a turn used: the default, a template (by the hash of its text), or a
    LangChain prompt (by its class and the hash of its repr)."""
    if prompt is None:
        return {"kind": "default", "hash": _digest(SYSTEM_PROMPT)}
    if isinstance(prompt, str):
        return {"kind": "template", "hash": _digest(prompt)}
    return {"kind": f"langchain:{type(prompt).__name__}", "hash": _digest(repr(prompt))}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance(view: MemoryView, prompt: Any, recalled: Recall | None = None
               ) -> dict[str, Any]:
    """What the prompt was built from, enough to rebuild the exact messages: the
    template text (or the default system text), the summary in force (by its point and
    time), the window's seqs and the recalled messages' seqs (in prompt order; the log
    is append-only, so each seq gives back the same role, text and date). With recall
    on, ``recall`` says how many were asked for and, if the search failed, why none
    came."""
    summary = view.summary
    record: dict[str, Any] = {
        "system": prompt if isinstance(prompt, str) else SYSTEM_PROMPT if prompt is None
        else None,
        "summary": None if summary is None else {
            "through_seq": summary.through_seq, "created_at": summary.created_at.isoformat()},
        "window": [m.seq for m in view.messages],
        "retrieved": [m.seq for m in recalled.messages] if recalled else [],
    }
    if recalled is not None and recalled.k:
        why = {"skipped": recalled.skipped, "note": recalled.note}
        record["recall"] = {"k": recalled.k, **{key: v for key, v in why.items() if v}}
    return record


@dataclass
class Recall:
    """The earlier messages recalled for one turn (chronological), and why none were
    if the search failed (``skipped``) or fell back to words (``note``)."""

    k: int = 0
    messages: list[Message] = field(default_factory=list)
    skipped: str | None = None
    note: str | None = None


def check_recall(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_RECALL:
        raise InvalidInput(f"recall must be a whole number from 0 to {MAX_RECALL}, got {k!r}")
    return k


def recall_messages(memory: Memory, view: MemoryView, human_input: str, k: int) -> Recall:
    """Up to ``k`` messages from before the window most relevant to ``human_input``
    (never a window message: the search keeps seqs below the window's first). A failing
    search never fails the turn: it recalls nothing and says why in ``skipped``."""
    found = Recall(check_recall(k))
    before = view.messages[0].seq if view.messages else view.message_count
    if not k or before <= 0:
        return found
    try:
        result = memory.search_result(view.session_id, human_input, k, before=before)
    except Exception as exc:  # noqa: BLE001 - recall is a help, never a reason to fail
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        found.skipped = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        log.warning("motorhead: recall skipped for %r: %s", view.session_id, found.skipped)
        return found
    found.messages = sorted((hit.message for hit in result.hits if hit.message.seq < before),
                            key=lambda m: m.seq)
    found.note = result.note  # e.g. why it fell back to words
    return found


@dataclass
class _Usage:
    """The model's own usage report when it sends one (OpenAI with stream usage,
    llama.cpp), else None and the tokens are counted."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    first_token: float | None = None

    def take(self, message: Any) -> None:
        usage = getattr(message, "usage_metadata", None) or {}
        if usage.get("input_tokens"):
            self.input_tokens = (self.input_tokens or 0) + int(usage["input_tokens"])
        if usage.get("output_tokens"):
            self.output_tokens = (self.output_tokens or 0) + int(usage["output_tokens"])


def _stream(model: Any, messages: list[BaseMessage], on_token: Callable[[str], None] | None,
            next_turn: str | None, so_far: list[str], usage: _Usage) -> str:
    """The streamed reply; ``so_far[0]`` holds it as it grows (for an interrupt)."""
    reply = ""
    for chunk in model.stream(messages):
        usage.take(chunk)
        piece = content_text(chunk)
        if not piece:
            continue
        if usage.first_token is None:
            usage.first_token = time.perf_counter()
        reply += piece
        so_far[0] = reply
        if next_turn and next_turn in reply:
            return reply.split(next_turn, 1)[0]
        if on_token is not None:
            on_token(_without_partial_marker(reply, next_turn))
    return reply


def ask(model: Any, messages: list[BaseMessage], *, stream: bool = True,
        on_token: Callable[[str], None] | None = None, next_turn: str | None = None
        ) -> tuple[str, dict[str, Any]]:
    """The model's reply to ``messages`` and what it cost: tokens (reported by the model,
    else counted), time to first token and total time. An interrupt becomes
    :class:`~motorhead_magic.errors.TurnInterrupted` carrying the partial reply."""
    usage, so_far = _Usage(), [""]
    started = time.perf_counter()
    try:
        if stream:
            reply = _stream(model, messages, on_token, next_turn, so_far, usage)
        else:
            answer = model.invoke(messages)
            usage.take(answer)
            reply = content_text(answer)
            usage.first_token = time.perf_counter()
    except KeyboardInterrupt:
        raise TurnInterrupted(_without_partial_marker(so_far[0], next_turn).strip()) from None
    if next_turn:
        reply = reply.split(next_turn, 1)[0]
    reply = reply.strip()
    ended = time.perf_counter()
    counted = usage.input_tokens is None or usage.output_tokens is None
    cost = {
        "input_tokens": usage.input_tokens if usage.input_tokens is not None else sum(
            count_tokens(content_text(m)) for m in messages),
        "output_tokens": usage.output_tokens if usage.output_tokens is not None
        else count_tokens(reply),
        "tokens_counted": counted,  # True: counted here; False: the model's own report
        "first_token_ms": None if usage.first_token is None
        else round((usage.first_token - started) * 1000, 3),
        "total_ms": round((ended - started) * 1000, 3),
    }
    return reply, cost


def run_turn(
    memory: Memory,
    session_id: str,
    human_input: str,
    model: Any,
    *,
    prompt: Any = None,
    on_token: Callable[[str], None] | None = None,
    stream: bool = True,
    metadata: dict[str, Any] | None = None,
    recall: int = 0,
    on_note: Callable[[str], None] | None = None,
) -> str:
    """Ask ``model`` and return the reply text. ``on_token(text_so_far)`` sees the reply
    grow. The Human and AI messages are stored with one ``memory.add`` only after the
    reply is complete; any exception stores nothing and propagates (an interrupt as
    :class:`~motorhead_magic.errors.TurnInterrupted`, carrying the partial reply).

    ``recall=k`` adds up to k earlier messages relevant to ``human_input`` from before
    the window (DESIGN.md section 3, long-term memory). If that search fails the turn
    goes on without them, and ``on_note(text)`` hears why, before the model is asked
    (as it hears that a search fell back to words).

    The AI message's metadata is ``metadata`` (e.g. the model's label) plus the turn's
    ledger (DESIGN.md section 3): the prompt's identity, tokens, timings, and the
    provenance of every part of the prompt (see :func:`provenance`)."""
    if not isinstance(human_input, str) or not human_input.strip():
        raise InvalidInput("the message is empty: write it below the %%motorhead line")
    check_recall(recall)
    view = memory.get(session_id)
    recalled = recall_messages(memory, view, human_input, recall)
    note = recall_note(recalled)
    if note and on_note is not None:
        on_note(note)
    messages = build_messages(view, human_input, prompt, recalled.messages)
    # A seed-style string template invites the model to write the human's next line too.
    next_turn = TURN_MARKER if isinstance(prompt, str) else None
    reply, cost = ask(model, messages, stream=stream, on_token=on_token, next_turn=next_turn)
    if not reply:
        raise EmptyReply("the model returned an empty reply; nothing was stored")
    ledger = {**dict(metadata or {}), "prompt": prompt_identity(prompt), **cost,
              "seen": provenance(view, prompt, recalled)}
    memory.add(session_id, [
        {"role": HUMAN, "content": human_input},
        {"role": AI, "content": reply, "metadata": ledger},
    ])
    return reply


def recall_note(recalled: Recall) -> str | None:
    """One line for the turn's status when recall did not go as asked."""
    if recalled.skipped:
        return f"recall skipped (the search failed: {recalled.skipped}); answered without it"
    if recalled.note:
        return f"recall: {recalled.note}"
    return None
