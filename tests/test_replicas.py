"""Scale-out: two server processes on one Redis behave as one server. Clients alternate
between the replicas while a slow fake summarizer folds; afterwards every message is
there exactly once, in each client's order, and every fold point has one summary."""

from __future__ import annotations

import threading
from collections import Counter
from urllib.parse import quote

import httpx
import pytest

import motorhead_magic as mh
from tests.serve_fake import ServerProcess

CLIENTS, SESSIONS, TURNS, WINDOW = 8, 50, 50, 12


def folded_lines(context: str) -> list[str]:
    return [line for chunk in context.split(" | ") for line in chunk.split(" / ")]


@pytest.mark.slow
def test_two_replicas_on_one_redis_lose_nothing_and_fold_once(redis_url):
    replicas = [ServerProcess(redis_url, window_size=WINDOW, summarizer="slow")
                for _ in range(2)]
    for replica in replicas:
        replica.start()
    failures: list[str] = []
    try:
        def client(c: int) -> None:
            http = [httpx.Client(base_url=r.url, timeout=120) for r in replicas]
            for t in range(TURNS):
                for s in range(SESSIONS):
                    reply = http[(c + t + s) % 2].post(
                        f"/sessions/{quote(f's{s}', safe='')}/memory",
                        json={"messages": [{"role": "Human", "content": f"c{c}-t{t}-q"},
                                           {"role": "AI", "content": f"c{c}-t{t}-a"}]})
                    if reply.status_code != 200:
                        failures.append(f"{reply.status_code} {reply.text}")
            for h in http:
                h.close()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for replica in replicas:
            httpx.post(f"{replica.url}/wait", params={"timeout": 600}, timeout=700)
    finally:
        for replica in replicas:
            replica.stop()
    assert not failures

    memory = mh.connect(redis_url, window_size=WINDOW)
    assert sorted(memory.sessions()) == sorted(f"s{s}" for s in range(SESSIONS))
    folds = 0
    for s in range(SESSIONS):
        history = memory.history(f"s{s}")
        texts = [m.content for m in history]
        expected = [f"c{c}-t{t}-{k}" for c in range(CLIENTS) for t in range(TURNS) for k in "qa"]
        assert Counter(texts) == Counter(expected)  # every message exactly once
        assert [m.seq for m in history] == list(range(len(history)))
        for c in range(CLIENTS):  # each client's turns in its order, q then a
            mine = [x for x in texts if x.startswith(f"c{c}-")]
            assert mine == [f"c{c}-t{t}-{k}" for t in range(TURNS) for k in "qa"]
        summaries = memory.summaries(f"s{s}")
        points = [x.through_seq for x in summaries]
        assert points == sorted(set(points))  # one summary per fold point
        assert summaries, "no fold happened"
        last = summaries[-1]
        lines = [f"{m.role}: {m.content}" for m in history[: last.through_seq + 1]]
        assert folded_lines(last.context) == lines  # each folded once, in order
        folds += len(summaries)
    memory.close()
    assert folds >= SESSIONS
