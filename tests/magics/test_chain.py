"""``chain.run_turn`` and the prompt it builds, against a real embedded memory."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

import motorhead_magic as mh
from motorhead_magic.chat.turn import (
    SEED_TEMPLATE,
    SUMMARY_HEADING,
    SYSTEM_PROMPT,
    EmptyReply,
    build_messages,
    render_template,
    run_turn,
)
from motorhead_magic.errors import TurnInterrupted
from tests.magics.conftest import RecordingChat


@pytest.fixture
def memory(sqlite_url):
    with mh.connect(sqlite_url, window_size=4) as memory:
        yield memory


def seed(memory, context=None):
    memory.add("s", [{"role": "Human", "content": "hi im bob"},
                     {"role": "AI", "content": "Hi Bob!"}], context=context)


def test_default_prompt_with_and_without_summary(memory):
    seed(memory)
    assert build_messages(memory.get("s"), "next") == [
        SystemMessage(SYSTEM_PROMPT), HumanMessage("hi im bob"), AIMessage("Hi Bob!"),
        HumanMessage("next")]
    memory.add("s", [], context="Bob introduced himself.")
    assert build_messages(memory.get("s"), "next")[0] == SystemMessage(
        f"{SYSTEM_PROMPT}\n\n{SUMMARY_HEADING}\nBob introduced himself.")
    memory.add("s", [], context="NONE")  # Motörhead's "nothing worth keeping"
    assert build_messages(memory.get("s"), "next")[0] == SystemMessage(SYSTEM_PROMPT)


def test_other_roles_keep_their_name(memory):
    memory.add("s", [{"role": "Tool", "content": "42"}, {"role": "system", "content": "be nice"}])
    messages = build_messages(memory.get("s"), "q")
    assert messages[1:3] == [HumanMessage("Tool: 42"), SystemMessage("be nice")]


def test_seed_template_with_summary_and_context_placeholder(memory):
    seed(memory, context="Earlier: Bob likes pizza.")
    (text,) = build_messages(memory.get("s"), "whats for dinner?", SEED_TEMPLATE)
    assert text.content == (
        f"{SYSTEM_PROMPT}\n{SUMMARY_HEADING} Earlier: Bob likes pizza.\n"
        "Human: hi im bob\nAI: Hi Bob!\nHuman: whats for dinner?\nAI:")
    (text,) = build_messages(memory.get("s"), "q", "[{context}]\n{chat_history}\n> {human_input}")
    assert text.content == "[Earlier: Bob likes pizza.]\nHuman: hi im bob\nAI: Hi Bob!\n> q"


def test_template_filling_is_one_pass_and_leaves_other_braces():
    values = {"chat_history": "{human_input}", "human_input": "{context} {0} {x!r}",
              "context": "$HOME"}
    assert render_template('{"k": {chat_history}} {human_input} {context} {other}', values) == (
        '{"k": {human_input}} {context} {0} {x!r} $HOME {other}')
    with pytest.raises(mh.InvalidInput, match="needs {human_input}"):
        render_template("{chat_history}", values)


def test_langchain_prompt_templates(memory):
    seed(memory, context="ctx")
    string_prompt = PromptTemplate.from_template("{chat_history}|{human_input}")
    (message,) = build_messages(memory.get("s"), "{q}", string_prompt)
    assert message.content == f"{SUMMARY_HEADING} ctx\nHuman: hi im bob\nAI: Hi Bob!|{{q}}"
    chat_prompt = ChatPromptTemplate.from_messages([("human", "{unknown} {human_input}")])
    with pytest.raises(mh.InvalidInput, match="cannot fill: unknown"):
        build_messages(memory.get("s"), "q", chat_prompt)
    with pytest.raises(mh.InvalidInput, match="got int"):
        build_messages(memory.get("s"), "q", 42)


def test_run_turn_streams_then_stores_once(memory, monkeypatch):
    model = RecordingChat(responses=["one two three"])
    writes = []
    original_add = memory.add
    monkeypatch.setattr(memory, "add", lambda *a, **k: (writes.append(a), original_add(*a, **k)))
    seen = []
    reply = run_turn(memory, "s", "hi", model, on_token=seen.append, metadata={"model": "m"})
    assert reply == "one two three"
    assert seen == ["one", "one two", "one two three"]
    assert len(writes) == 1
    history = memory.history("s")
    assert [(m.role, m.content) for m in history] == [("Human", "hi"), ("AI", "one two three")]
    assert history[0].metadata == {}
    ledger = history[1].metadata
    assert ledger["model"] == "m" and ledger["prompt"]["kind"] == "default"
    assert ledger["input_tokens"] > 0 and ledger["output_tokens"] == 3  # counted (cl100k)
    assert ledger["tokens_counted"] is True
    assert 0 <= ledger["first_token_ms"] <= ledger["total_ms"]
    assert ledger["seen"] == {"system": SYSTEM_PROMPT, "summary": None, "window": [],
                              "retrieved": []}


@pytest.mark.parametrize("failure", ["fail_after", "interrupt_after"])
def test_failures_store_nothing(memory, failure):
    model = RecordingChat(responses=["one two three"], **{failure: 2})
    seen = []
    with pytest.raises(RuntimeError if failure == "fail_after" else TurnInterrupted) as info:
        run_turn(memory, "s", "hi", model, on_token=seen.append)
    assert seen == ["one", "one two"]
    if failure == "interrupt_after":
        assert info.value.partial == "one two"  # the reply as far as it had come
    assert memory.history("s") == [] and memory.sessions() == []


def test_empty_reply_and_empty_input_store_nothing(memory):
    with pytest.raises(EmptyReply):
        run_turn(memory, "s", "hi", RecordingChat(responses=["   "]))
    with pytest.raises(mh.InvalidInput, match="empty"):
        run_turn(memory, "s", " \n", RecordingChat())
    assert memory.history("s") == []


def test_string_template_reply_stops_at_the_next_human_line(memory):
    model = RecordingChat(responses=["Hello Bob.\nHuman: and me? AI: more"])
    seen = []
    reply = run_turn(memory, "s", "hi", model, prompt=SEED_TEMPLATE, on_token=seen.append)
    assert reply == "Hello Bob."
    assert all("Human" not in text for text in seen)
    model = RecordingChat(responses=["Hello Bob.\nHuman: and me?"])
    assert run_turn(memory, "t", "hi", model, prompt=SEED_TEMPLATE, stream=False) == "Hello Bob."
    # the default (chat) prompt keeps the reply whole
    model = RecordingChat(responses=["Say\nHuman: this"])
    assert run_turn(memory, "u", "hi", model) == "Say\nHuman: this"
