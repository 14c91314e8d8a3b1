"""LangChain's own Motörhead client, unchanged, against our server process: the seed's
flow (init, save_context, reload), a fold's context, and delete_session."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_fake import ServerProcess

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.memory.motorhead_memory import MotorheadMemory


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    server = ServerProcess(f"sqlite:///{tmp_path / 'memory.db'}", window_size=6,
                           summarizer="echo").start()
    yield server.url
    server.stop()


def loaded(url: str, session_id: str) -> MotorheadMemory:
    memory = MotorheadMemory(url=url, session_id=session_id, memory_key="chat_history")
    asyncio.run(memory.init())
    return memory


def test_the_import_is_the_real_client_not_a_placeholder():
    from langchain_classic.memory.chat_memory import BaseChatMemory

    assert issubclass(MotorheadMemory, BaseChatMemory)  # without langchain-classic: empty


def test_save_reload_fold_and_delete(server_url):
    memory = loaded(server_url, "seed/chat 1")
    assert memory.chat_memory.messages == [] and memory.context is None
    for i in range(3):
        memory.save_context({"input": f"question {i}"}, {"output": f"answer {i}"})
    assert "Human: question 2\nAI: answer 2" in memory.load_memory_variables({})["chat_history"]

    fresh = loaded(server_url, "seed/chat 1")  # a new process would see the same
    assert [(m.type, m.content) for m in fresh.chat_memory.messages] == [
        (kind, f"{word} {i}") for i in range(3)
        for kind, word in (("human", "question"), ("ai", "answer"))]

    for i in range(3, 10):  # 20 messages > window 6: the server folds
        fresh.save_context({"input": f"question {i}"}, {"output": f"answer {i}"})
    import httpx

    httpx.post(f"{server_url}/sessions/seed%2Fchat%201/wait", timeout=60).raise_for_status()
    after_fold = loaded(server_url, "seed/chat 1")
    assert after_fold.context is not None and "Human: question 0" in after_fold.context
    assert 0 < len(after_fold.chat_memory.messages) <= 6
    assert after_fold.chat_memory.messages[-1].content == "answer 9"

    after_fold.delete_session()
    gone = loaded(server_url, "seed/chat 1")
    assert gone.chat_memory.messages == [] and gone.context is None
