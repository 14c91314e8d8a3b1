"""The real offline model (SmolLM2-135M-Instruct via llama.cpp) through the magic."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from motorhead_magic.chat.local import LOCAL_LABEL
from tests.magics.conftest import magics, require_local_model

pytestmark = pytest.mark.local_model


@pytest.fixture(autouse=True)
def _needs_local_model() -> None:
    require_local_model()


def test_seed_conversation_with_the_local_model(ip):
    ip.run_line_magic("config", "MotorheadMagics.max_tokens = 48")
    ip.run_line_magic("config", "MotorheadMagics.window_size = 4")
    ip.run_line_magic("motorhead", "session bob")  # default model: local (no API key here)
    replies = [ip.run_cell_magic("motorhead", "", text)
               for text in ["hi im bob", "whats my name?", "whats for dinner?"]]
    assert all(reply.strip() for reply in replies)
    assert {reply.model for reply in replies} == {LOCAL_LABEL}
    ip.run_line_magic("motorhead", "wait --timeout 300")
    memory = magics(ip).memory
    history = memory.history("bob")
    assert [m.role for m in history] == ["Human", "AI"] * 3
    assert history[-1].content == replies[-1] and history[-1].metadata["model"] == LOCAL_LABEL
    assert history[-1].metadata["input_tokens"] > 0 and history[-1].metadata["output_tokens"] > 0
    (summary,) = memory.summaries("bob")  # 6 messages > 4: the local model summarized
    assert summary.through_seq == 3 and summary.context.strip()
    assert memory.get("bob").context == summary.context


def test_local_model_context_overflow_stores_nothing(ip):
    ip.run_line_magic("motorhead", "model local")
    with pytest.raises(UsageError, match="nothing was stored"):
        ip.run_cell_magic("motorhead", "", "word " * 20_000)  # far beyond 4096 tokens
    assert magics(ip).memory.history("default") == []
    assert ip.run_cell_magic("motorhead", "--no-stream", "hello").strip()
