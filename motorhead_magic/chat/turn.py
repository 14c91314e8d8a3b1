"""One chat turn: summary + window + the human input -> the model, streamed; then both
messages are stored together.

Modern LangChain only: message lists and ``model.stream`` / ``model.invoke``. User
text (cell bodies, stored messages, summaries) is only ever *substituted into* a
prompt, never parsed as one, so braces, JSON, code, ``$`` and quotes are inert.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ..errors import EmptyReply, InvalidInput, TurnInterrupted
from ..memory import Memory
from ..records import AI, HUMAN, MemoryView, Message, content_text, role_kind

SYSTEM_PROMPT = "You are a chatbot having a conversation with a human."
SUMMARY_HEADING = "Summary of the conversation so far:"
# The seed's template: a plain string with {chat_history} and {human_input}.
SEED_TEMPLATE = SYSTEM_PROMPT + "\n{chat_history}\nHuman: {human_input}\nAI:"
TEMPLATE_VARIABLES = ("chat_history", "human_input", "context")
TURN_MARKER = "\nHuman:"
_PLACEHOLDER = re.compile(r"\{(chat_history|human_input|context)\}")


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


def history_text(view: MemoryView, *, with_summary: bool) -> str:
    """``Role: content`` lines (the seed's ``{chat_history}``); the summary leads when the
    template has no ``{context}`` of its own, so that folded turns are not forgotten."""
    lines = [f"{m.role}: {m.content}" for m in view.messages]
    context = current_context(view)
    if with_summary and context:
        lines.insert(0, f"{SUMMARY_HEADING} {context}")
    return "\n".join(lines)


def check_template(template: str) -> str:
    if "{human_input}" not in template:
        raise InvalidInput("a prompt template needs {human_input} (and usually {chat_history};"
                           " {context} is optional)")
    return template


def render_template(template: str, values: dict[str, str]) -> str:
    """Fill only our three placeholders, in one pass over the template: other braces
    (JSON examples, code) stay as written and filled-in text is never re-scanned."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], check_template(template))


def _placeholder_names(prompt: Any) -> set[str]:
    names = set()
    for part in getattr(prompt, "messages", []):
        name = getattr(part, "variable_name", None)  # a MessagesPlaceholder
        if name:
            names.add(name)
    return names


def build_messages(view: MemoryView, human_input: str, prompt: Any = None) -> list[BaseMessage]:
    """The exact messages the model receives for this turn."""
    context = current_context(view)
    if prompt is None:
        system = SYSTEM_PROMPT + (f"\n\n{SUMMARY_HEADING}\n{context}" if context else "")
        return [SystemMessage(system), *history_messages(view), HumanMessage(human_input)]
    if isinstance(prompt, str):
        with_summary = "{context}" not in prompt
        text = render_template(prompt, {
            "chat_history": history_text(view, with_summary=with_summary),
            "human_input": human_input,
            "context": context or "",
        })
        return [HumanMessage(text)]
    if callable(getattr(prompt, "invoke", None)) and hasattr(prompt, "input_variables"):
        wanted = set(prompt.input_variables)
        unknown = wanted - set(TEMPLATE_VARIABLES)
        if unknown:
            raise InvalidInput(f"the prompt asks for variables we cannot fill: "
                               f"{', '.join(sorted(unknown))} (we supply {TEMPLATE_VARIABLES})")
        with_summary = "context" not in wanted
        if "chat_history" in _placeholder_names(prompt):
            history: Any = history_messages(view)
            if with_summary and context:
                history.insert(0, SystemMessage(f"{SUMMARY_HEADING}\n{context}"))
        else:
            history = history_text(view, with_summary=with_summary)
        values: dict[str, Any] = {
            "chat_history": history,
            "human_input": human_input,
            "context": context or "",
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


def _stream(model: Any, messages: list[BaseMessage], on_token: Callable[[str], None] | None,
            next_turn: str | None, so_far: list[str]) -> str:
    """The streamed reply; ``so_far[0]`` holds it as it grows (for an interrupt)."""
    reply = ""
    for chunk in model.stream(messages):
        piece = content_text(chunk)
        if not piece:
            continue
        reply += piece
        so_far[0] = reply
        if next_turn and next_turn in reply:
            return reply.split(next_turn, 1)[0]
        if on_token is not None:
            on_token(_without_partial_marker(reply, next_turn))
    return reply


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
) -> str:
    """Ask ``model`` and return the reply text. ``on_token(text_so_far)`` sees the reply
    grow. The Human and AI messages are stored with one ``memory.add`` only after the
    reply is complete; any exception stores nothing and propagates (an interrupt as
    :class:`~motorhead_magic.errors.TurnInterrupted`, carrying the partial reply).
    ``metadata`` goes onto the stored AI message."""
    if not isinstance(human_input, str) or not human_input.strip():
        raise InvalidInput("the message is empty: write it below the %%motorhead line")
    messages = build_messages(memory.get(session_id), human_input, prompt)
    # A seed-style string template invites the model to write the human's next line too.
    next_turn = TURN_MARKER if isinstance(prompt, str) else None
    so_far: list[str] = [""]
    try:
        if stream:
            reply = _stream(model, messages, on_token, next_turn, so_far)
        else:
            reply = content_text(model.invoke(messages))
    except KeyboardInterrupt:
        raise TurnInterrupted(_without_partial_marker(so_far[0], next_turn).strip()) from None
    if next_turn:
        reply = reply.split(next_turn, 1)[0]
    reply = reply.strip()
    if not reply:
        raise EmptyReply("the model returned an empty reply; nothing was stored")
    memory.add(session_id, [
        {"role": HUMAN, "content": human_input},
        {"role": AI, "content": reply, "metadata": dict(metadata or {})},
    ])
    return reply
