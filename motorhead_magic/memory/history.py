"""A LangChain ``BaseChatMessageHistory`` over a Memory, so any LangChain chain is
memory-backed through ``RunnableWithMessageHistory``.

Its ``messages`` are what a turn's prompt gets: the running summary (as a system
message) and the window, never the whole log; writes go through ``Memory.add``, so
folds happen as usual. This is the one module of the memory layer that imports
LangChain (lazily, through ``Memory.chat_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ..records import role_kind

SUMMARY_HEADING = "Summary of the conversation so far:"
_MESSAGE_OF = {"human": HumanMessage, "ai": AIMessage, "system": SystemMessage}


class MemoryChatHistory(BaseChatMessageHistory):
    """The summary + window of ``session_id`` in ``memory``, as LangChain messages."""

    def __init__(self, memory: Any, session_id: str) -> None:
        self.memory = memory
        self.session_id = session_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        view = self.memory.get(self.session_id)
        result: list[BaseMessage] = []
        context = (view.context or "").strip()
        if context and context != "NONE":
            result.append(SystemMessage(f"{SUMMARY_HEADING}\n{context}"))
        for message in view.messages:
            kind = _MESSAGE_OF.get(role_kind(message.role))
            result.append(kind(message.content) if kind else
                          HumanMessage(f"{message.role}: {message.content}"))
        return result

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """One ``add`` for the batch (a chain adds the input and the reply together)."""
        self.memory.add(self.session_id, list(messages))

    def clear(self) -> None:
        self.memory.delete(self.session_id)
