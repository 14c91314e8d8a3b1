"""Many writers, folds in flight, processes killed: nothing lost, one fold per point.

Writers are real threads and real processes (``tests/workers.py``) on one
store, each process with its own engine, as kernels and server replicas are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import motorhead_magic as mh
from tests.fakes import SummaryEcho
from tests.test_conformance import folded_lines

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(params=["sqlite", "redis"])
def local_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.workers", *args], cwd=ROOT, env=ENV)


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"worker exited early with {proc.returncode}"
        assert time.monotonic() < deadline, f"worker never wrote {path.name}"
        time.sleep(0.05)


def check_session(memory: mh.Memory, session_id: str, writers: list[str], turns: int) -> None:
    """Every message exactly once, each turn's pair adjacent, summaries one per point
    and together covering exactly the folded prefix of the log."""
    history = memory.history(session_id)
    assert [m.seq for m in history] == list(range(len(writers) * turns * 2))
    texts = [m.content for m in history]
    expected = {f"{w}-t{t}-{k}" for w in writers for t in range(turns) for k in "qa"}
    assert Counter(texts) == Counter(expected)
    for q, a in zip(texts[::2], texts[1::2]):
        assert q[:-1] == a[:-1] and q.endswith("q") and a.endswith("a")
    for writer in writers:
        mine = [int(x.split("-t")[1][:-2]) for x in texts[::2] if x.startswith(f"{writer}-")]
        assert mine == list(range(turns))

    points = [s.through_seq for s in memory.summaries(session_id)]
    assert points == sorted(set(points)), "two summaries for one point, or out of order"
    last = memory.summaries(session_id)[-1]
    covered = [f"{m.role}: {m.content}" for m in history[: last.through_seq + 1]]
    assert folded_lines(last.context) == covered
    assert len(memory.get(session_id).messages) <= memory.window_size


@pytest.mark.slow
def test_eight_writers_in_threads_and_processes(local_url: str) -> None:
    sessions, turns, window = 20, 100, 12
    procs = [spawn("write", local_url, f"p{i}", "--sessions", str(sessions), "--turns",
                   str(turns), "--window", str(window), "--threads", "2") for i in range(4)]
    try:
        codes = [p.wait(timeout=900) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0, 0, 0]
    writers = [f"p{i}.{t}" for i in range(4) for t in range(2)]
    memory = mh.connect(local_url, window_size=window, summarizer=SummaryEcho())
    for s in range(sessions):
        memory.fold(f"s{s}")  # a fold skipped because another process held the lease
        check_session(memory, f"s{s}", writers, turns)
    memory.close()


def test_two_engines_in_one_process_fold_each_point_once(local_url: str) -> None:
    """Two engines on one store (as two server replicas), four threads, a slow summarizer."""
    replicas = [mh.connect(local_url, window_size=4, summarizer=SummaryEcho(delay=0.01))
                for _ in range(2)]
    writers = [f"w{i}" for i in range(4)]

    def run(index: int) -> None:
        memory = replicas[index % 2]
        for t in range(40):
            memory.add("shared", [{"role": "Human", "content": f"w{index}-t{t}-q"},
                                  {"role": "AI", "content": f"w{index}-t{t}-a"}])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for memory in replicas:
        memory.wait(timeout=120)
    replicas[0].fold("shared")
    check_session(replicas[0], "shared", writers, 40)
    prompts = [p for m in replicas for p in m.summarizer.model.prompts]
    assert len(prompts) == len(replicas[0].summaries("shared")), "an LLM call was wasted"
    for memory in replicas:
        memory.close()


def test_kill_during_fold_loses_nothing_and_fold_completes_later(local_url, tmp_path):
    marker = tmp_path / "folding"
    proc = spawn("hang", local_url, str(marker), "--lease-seconds", "2")
    try:
        wait_for_file(marker, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    memory = mh.connect(local_url, window_size=4, summarizer=SummaryEcho(), lease_seconds=2)
    assert [m.content for m in memory.history("crash")] == [f"m{i}" for i in range(9)]
    assert memory.summaries("crash") == []
    assert memory.fold("crash") == 0  # the dead process's lease still holds
    time.sleep(2.2)  # ... until it expires
    memory.add("crash", [{"role": "Human", "content": "m9"}])
    memory.wait("crash")
    [summary] = memory.summaries("crash")
    assert summary.through_seq == 7
    assert folded_lines(summary.context) == [
        f"{'Human' if i % 2 == 0 else 'AI'}: m{i}" for i in range(8)]
    assert len(memory.history("crash")) == 10
    memory.close()


def test_kill_during_writes_leaves_only_whole_turns(sqlite_url, tmp_path):
    marker = tmp_path / "writing"
    proc = spawn("write-forever", sqlite_url, str(marker))
    try:
        wait_for_file(marker, proc)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    memory = mh.connect(sqlite_url)
    history = memory.history("big")
    assert len(history) >= 8 and len(history) % 2 == 0
    assert [m.seq for m in history] == list(range(len(history)))
    assert [m.content.split(":")[0] for m in history] == [
        str(i // 2) for i in range(len(history))]
    memory.add("big", [{"role": "Human", "content": "after the crash"}])
    assert memory.get("big").messages[-1].content == "after the crash"
    memory.close()


def test_compare_and_set_holds_when_leases_expire(local_url: str) -> None:
    """A fold outliving its lease (slow LLM) races a second one: only one may land."""
    mh.connect(local_url, window_size=4).add(
        "s", [{"role": "Human", "content": f"m{i}"} for i in range(5)])
    racers = [mh.connect(local_url, window_size=4, lease_seconds=0.0,
                         summarizer=SummaryEcho(delay=0.3)) for _ in range(2)]
    first = threading.Thread(target=racers[0].fold, args=("s",))
    first.start()
    deadline = time.monotonic() + 30
    while not racers[0].summarizer.model.prompts:  # the first is inside its LLM call
        assert time.monotonic() < deadline
        time.sleep(0.01)
    racers[1].fold("s")
    first.join()
    assert all(m.summarizer.model.prompts for m in racers), "the race did not happen"
    assert [s.through_seq for s in racers[0].summaries("s")] == [2]
