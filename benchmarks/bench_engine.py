"""Embedded store vs LangChain's chat histories, same machine, same run.

    python benchmarks/bench_engine.py [--messages 10000] [--repeat 300]

Reports p50/p99 of appending one turn and of reading a 10k-message session
(ours reads only the window; the histories read everything), and batched
append throughput. Ratios are against LangChain's SQLChatMessageHistory
(SQLite) and RedisChatMessageHistory on the same Redis, measured here.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

import motorhead_magic as mh

warnings.filterwarnings("ignore")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50, p99 in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), percentile(samples, 0.99)


def start_redis() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def turn(i: int) -> list[dict]:
    return [{"role": "Human", "content": f"question {i} about Motörhead"},
            {"role": "AI", "content": f"answer {i}: Lemmy, Phil and Eddie"}]


def lc_turn(i: int) -> list:
    return [HumanMessage(f"question {i} about Motörhead"),
            AIMessage(f"answer {i}: Lemmy, Phil and Eddie")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    from langchain_community.chat_message_histories import (
        RedisChatMessageHistory,
        SQLChatMessageHistory,
    )

    tmp = Path(tempfile.mkdtemp())
    redis_proc, redis_url = start_redis()
    try:
        ours = mh.connect(f"sqlite://{tmp}/ours.db")
        ours_redis = mh.connect(redis_url)
        sql = SQLChatMessageHistory("big", connection=f"sqlite:///{tmp}/langchain.db")
        lc_redis = RedisChatMessageHistory("big", url=redis_url)

        n_turns = args.messages // 2
        rows: list[tuple[str, float, float]] = []

        # Fill the 10k sessions with batched appends, timing the throughput.
        batch = 100
        throughput = {}
        for name, append in [
            ("ours (SQLite)", lambda i: ours.add("big", [m for j in range(batch // 2)
                                                          for m in turn(i + j)])),
            ("ours (Redis)", lambda i: ours_redis.add("big", [m for j in range(batch // 2)
                                                               for m in turn(i + j)])),
            ("SQLChatMessageHistory", lambda i: sql.add_messages(
                [m for j in range(batch // 2) for m in lc_turn(i + j)])),
            ("RedisChatMessageHistory", lambda i: lc_redis.add_messages(
                [m for j in range(batch // 2) for m in lc_turn(i + j)])),
        ]:
            start = time.perf_counter()
            for i in range(0, n_turns, batch // 2):
                append(i)
            throughput[name] = args.messages / (time.perf_counter() - start)

        for name, fn in [
            ("ours (SQLite) get()", lambda: ours.get("big")),
            ("ours (Redis) get()", lambda: ours_redis.get("big")),
            ("SQLChatMessageHistory.messages", lambda: sql.messages),
            ("RedisChatMessageHistory.messages", lambda: lc_redis.messages),
        ]:
            rows.append((f"read 10k session: {name}", *timed(fn, max(20, args.repeat // 10))))

        counter = iter(range(10**9))
        for name, fn in [
            ("ours (SQLite) add(turn)", lambda: ours.add("one", turn(next(counter)))),
            ("ours (Redis) add(turn)", lambda: ours_redis.add("one", turn(next(counter)))),
            ("SQLChatMessageHistory.add_messages(turn)",
             lambda: sql.add_messages(lc_turn(next(counter)))),
            ("RedisChatMessageHistory.add_messages(turn)",
             lambda: lc_redis.add_messages(lc_turn(next(counter)))),
        ]:
            rows.append((name, *timed(fn, args.repeat)))
    finally:
        redis_proc.terminate()

    print(f"{'operation':58} {'p50 ms':>9} {'p99 ms':>9}")
    for name, p50, p99 in rows:
        print(f"{name:58} {p50:9.3f} {p99:9.3f}")
    p50 = {name: value for name, value, _ in rows}
    print()
    pairs = (("SQLite", "SQLChatMessageHistory"), ("Redis", "RedisChatMessageHistory"))
    for backend, theirs in pairs:
        ratio = (p50[f"read 10k session: {theirs}.messages"]
                 / p50[f"read 10k session: ours ({backend}) get()"])
        print(f"get() speed-up vs {theirs}.messages: {ratio:.0f}x")
    print(f"add() p50 ratio ours/SQLChatMessageHistory: "
          f"{p50['ours (SQLite) add(turn)'] / p50['SQLChatMessageHistory.add_messages(turn)']:.2f}")
    theirs_add = p50["RedisChatMessageHistory.add_messages(turn)"]
    print(f"add() p50 ratio ours/RedisChatMessageHistory: "
          f"{p50['ours (Redis) add(turn)'] / theirs_add:.2f}")
    print()
    print(f"{'batched append (100 messages a call)':58} {'msgs/s':>9}")
    for name, rate in throughput.items():
        print(f"{name:58} {rate:9.0f}")


if __name__ == "__main__":
    main()
