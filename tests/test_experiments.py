"""Experiments on every backend: compare models from one memory state and adopt a reply,
replay a conversation through another model or window, read what each turn cost and
what its model saw, and use the memory as a LangChain chat history."""

from __future__ import annotations

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

import motorhead_magic as mh
from motorhead_magic.chat.ledger import seen
from motorhead_magic.chat.turn import SYSTEM_PROMPT, run_turn
from tests.magics.conftest import RecordingChat


def chat(*replies: str) -> RecordingChat:
    return RecordingChat(responses=list(replies))


def converse(memory, session_id: str, turns: int, model=None) -> None:
    model = model or chat(*[f"reply {i}" for i in range(turns)])
    for i in range(turns):
        run_turn(memory, session_id, f"question {i}", model, metadata={"model": "fake"})


# -- compare and adopt -----------------------------------------------------------------


def test_compare_sends_one_snapshot_to_each_model_and_stores_nothing(memory_factory):
    memory = memory_factory(window_size=6)
    converse(memory, "s", 2)
    before = memory.history("s")
    a, b = chat("from A"), chat("from B")
    frame = mh.compare(memory, "s", "what now?", {"A": a, "B": b})
    assert list(frame.columns) == ["model", "reply", "input_tokens", "output_tokens",
                                   "latency_ms", "error"]
    assert frame["reply"].tolist() == ["from A", "from B"]
    assert a.calls[0] == b.calls[0]  # the same messages, from the same memory state
    assert a.calls[0][-1] == HumanMessage("what now?")
    assert memory.history("s") == before
    assert mh.adopt(memory, "s", frame, "B") == "from B"
    history = memory.history("s")
    assert [(m.role, m.content) for m in history[-2:]] == [("Human", "what now?"),
                                                           ("AI", "from B")]
    assert history[-1].metadata["model"] == "B (RecordingChat)"


def test_a_failing_model_shows_its_error_and_the_others_answer(memory_factory):
    memory = memory_factory()
    broken = chat("x")
    broken.fail_after = 0
    frame = mh.compare(memory, "s", "hi", {"ok": chat("fine"), "broken": broken})
    assert frame["reply"].tolist()[0] == "fine"
    assert frame["reply"].isna().tolist() == [False, True]
    assert "RuntimeError" in frame["error"].tolist()[1]
    with pytest.raises(mh.InvalidInput, match="no reply to adopt"):
        mh.adopt(memory, "s", frame, "broken")


@pytest.mark.parametrize(("models", "named"), [
    ({"only": "x"}, "2 to 8 models"),
    ({f"m{i}": "x" for i in range(20)}, "2 to 8 models"),
    (["nosuchmodel", "other"], "no variable or model 'nosuchmodel'"),
])
def test_compare_refuses_bad_model_lists(memory_factory, models, named):
    memory = memory_factory()
    with pytest.raises((mh.InvalidInput, mh.ModelUnavailable), match=named):
        mh.compare(memory, "s", "hi", models)
    assert memory.sessions() == []


def test_adopt_refuses_a_stale_comparison_and_writes_nothing(memory_factory):
    memory = memory_factory()
    converse(memory, "s", 1)
    frame = mh.compare(memory, "s", "next?", {"A": chat("a"), "B": chat("b")})
    converse(memory, "s", 1)  # the session moves on
    count = len(memory.history("s"))
    with pytest.raises(mh.InvalidInput, match="moved since the comparison"):
        mh.adopt(memory, "s", frame, 0)
    with pytest.raises(mh.InvalidInput, match="no model 'C'"):
        mh.adopt(memory, "s", frame, "C")
    assert len(memory.history("s")) == count


# -- replay ----------------------------------------------------------------------------


def test_replay_sends_the_human_turns_through_another_model(memory_factory):
    memory = memory_factory(window_size=6)
    converse(memory, "source", 3)
    other = chat("again 0", "again 1", "again 2")
    frame = mh.replay(memory, "source", other, new_id="copy")
    assert frame["human"].tolist() == ["question 0", "question 1", "question 2"]
    assert frame["source_reply"].tolist() == ["reply 0", "reply 1", "reply 2"]
    assert frame["reply"].tolist() == ["again 0", "again 1", "again 2"]
    assert (frame["input_tokens"] > 0).all() and frame.attrs["session_id"] == "copy"
    assert [m.content for m in memory.history("copy")][-1] == "again 2"
    assert len(memory.history("source")) == 6  # the source is untouched
    # the third turn saw the replay's own memory (its first two turns), not the source's
    assert [m.content for m in other.calls[2][1:-1]] == ["question 0", "again 0",
                                                         "question 1", "again 1"]


def test_replay_refuses_an_empty_source_or_an_existing_target(memory_factory):
    memory = memory_factory()
    with pytest.raises(mh.InvalidInput, match="no human messages"):
        mh.replay(memory, "nobody", chat("x"))
    converse(memory, "a", 1)
    converse(memory, "b", 1)
    with pytest.raises(mh.InvalidInput, match="already exists"):
        mh.replay(memory, "a", chat("x"), new_id="b")
    assert len(memory.history("b")) == 2


# -- the ledger and what the model saw ---------------------------------------------------


def test_seen_rebuilds_exactly_what_the_model_received(memory_factory):
    memory = memory_factory(window_size=4)
    model = chat(*[f"reply {i}" for i in range(5)])
    converse(memory, "s", 3, model)
    reply = memory.history("s")[-1]
    parts = seen(memory, "s", reply.seq)
    assert [p.content for p in parts] == [m.content for m in model.calls[-1]]
    assert parts[0].source == "system" and parts[0].content == SYSTEM_PROMPT
    assert [p.source for p in parts[1:]] == [
        "window #0", "window #1", "window #2", "window #3", "input #4"]
    with pytest.raises(mh.InvalidInput, match="not the reply of a recorded turn"):
        seen(memory, "s", 0)


def test_usage_ledger_has_one_row_per_chat_call(memory_factory):
    memory = memory_factory()
    converse(memory, "s", 2)
    usage = memory.usage_dataframe("s")
    assert list(usage.columns) == ["session_id", "seq", "kind", "model", "input_tokens",
                                   "output_tokens", "latency_ms", "created_at"]
    assert usage["kind"].tolist() == ["chat", "chat"] and usage["seq"].tolist() == [1, 3]
    assert (usage["output_tokens"] > 0).all() and str(usage["latency_ms"].dtype) == "float64"
    assert memory.usage_dataframe("nobody").empty


# -- LangChain-native use ---------------------------------------------------------------


def test_a_real_runnable_with_message_history_chain_over_three_turns(memory_factory):
    memory = memory_factory(window_size=4)
    model = FakeListChatModel(responses=["Hi Bob!", "You are Bob.", "Pasta."])
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{input}")])
    chain = RunnableWithMessageHistory(prompt | model, memory.chat_history,
                                       input_messages_key="input",
                                       history_messages_key="history")
    config = {"configurable": {"session_id": "bob"}}
    replies = [chain.invoke({"input": text}, config=config).content
               for text in ("hi im bob", "whats my name?", "whats for dinner?")]
    assert replies == ["Hi Bob!", "You are Bob.", "Pasta."]
    assert [(m.role, m.content) for m in memory.history("bob")] == [
        ("Human", "hi im bob"), ("AI", "Hi Bob!"), ("Human", "whats my name?"),
        ("AI", "You are Bob."), ("Human", "whats for dinner?"), ("AI", "Pasta.")]
    history = memory.chat_history("bob").messages
    assert history[-2:] == [HumanMessage("whats for dinner?"), AIMessage("Pasta.")]
    assert not any(isinstance(m, SystemMessage) for m in history)  # no summarizer here
