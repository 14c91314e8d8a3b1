"""Fake chat models for tests: LangChain's own base classes, deterministic behaviour.

There is no LLM API key here, so summaries come from ``SummaryEcho``: it
"summarizes" by appending the new lines to the previous summary, which makes
every fold checkable from the summary text alone (also across processes).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr


def _between(text: str, start: str, end: str) -> str:
    head = text.rsplit(start, 1)[-1]
    return head.split(end, 1)[0]


class SummaryEcho(BaseChatModel):
    """Summary = previous summary + ' | ' + the new lines joined by ' / '."""

    delay: float = 0.0
    fail: bool = False
    prompts: list[str] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "summary-echo"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        with self._lock:
            self.prompts.append(prompt)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("summary model is down")
        previous = _between(prompt, "Current summary:\n", "\n\nNew lines of conversation:").strip()
        lines = _between(prompt, "New lines of conversation:\n", "\n\nNew summary:").strip()
        text = " / ".join(lines.splitlines())
        if previous:
            text = f"{previous} | {text}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def make_summarizer(kind: str | None) -> SummaryEcho | None:
    """By name, so that a server in another process can build the same one."""
    if kind is None:
        return None
    return {
        "echo": lambda: SummaryEcho(),
        "slow": lambda: SummaryEcho(delay=0.05),
        "failing": lambda: SummaryEcho(fail=True),
    }[kind]()


class WordEmbeddings:
    """A deterministic embedder for tests: a bag of hashed words (with a tiny synonym
    table, so that "meaning" finds what shares no word). ``fail`` makes it raise,
    ``hang`` makes it sleep that many seconds, ``dimension`` sets its size; the
    counters say how often it was called."""

    SYNONYMS = {"pet": "dog", "puppy": "dog", "hound": "dog", "automobile": "car",
                "vehicle": "car", "feline": "cat", "kitten": "cat"}

    def __init__(self, dimension: int = 64, fail: bool = False, hang: float = 0.0) -> None:
        self.name = f"test-words-{dimension}"
        self.dimension = dimension
        self.fail = fail
        self.hang = hang
        self.documents = 0
        self.batches = 0
        self.queries = 0

    def _vector(self, text: str) -> list[float]:
        import hashlib
        import re
        import time

        if self.hang:
            time.sleep(self.hang)
        if self.fail:
            raise RuntimeError("embedding service down")
        vector = [0.0] * self.dimension
        for word in re.findall(r"[^\W_]+", text.lower()):
            word = self.SYNONYMS.get(word, word)
            vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents += len(texts)
        self.batches += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return self._vector(text)


def make_embeddings(kind: str | None) -> WordEmbeddings | None:
    """An embedder by name, so a server in another process can build the same one."""
    return {"words": WordEmbeddings, None: lambda: None}[kind]()
