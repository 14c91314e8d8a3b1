"""Child processes for the concurrency and crash tests: ``python -m tests.workers ...``.

They are separate interpreters on purpose: the fold lease and the summary
compare-and-set must hold across processes, not only across threads.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import motorhead_magic as mh
from tests.fakes import SummaryEcho


def write_turns(url: str, writer: str, sessions: int, turns: int, window: int,
                delay: float, threads: int) -> None:
    """``threads`` writers in this process, each writing ``turns`` turns to every session."""
    memory = mh.connect(url, window_size=window, summarizer=SummaryEcho(delay=delay))

    def run(name: str) -> None:
        for t in range(turns):
            for s in range(sessions):
                memory.add(f"s{s}", [{"role": "Human", "content": f"{name}-t{t}-q"},
                                     {"role": "AI", "content": f"{name}-t{t}-a"}])

    pool = [threading.Thread(target=run, args=(f"{writer}.{i}",)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    memory.wait(timeout=600)
    memory.close()


class HangingSummarizer(SummaryEcho):
    """Announces that a fold started (a marker file), then never returns."""

    marker: str = ""

    def _generate(self, *args, **kwargs):
        Path(self.marker).write_text("folding")
        threading.Event().wait()


def hang_in_fold(url: str, marker: str, lease_seconds: float) -> None:
    memory = mh.connect(url, window_size=4, lease_seconds=lease_seconds,
                        summarizer=HangingSummarizer(marker=marker))
    memory.add("crash", [{"role": "Human" if i % 2 == 0 else "AI", "content": f"m{i}"}
                         for i in range(9)])
    threading.Event().wait()  # killed by the test


def write_forever(url: str, marker: str) -> None:
    """Big two-message turns until killed; each turn is one transaction."""
    memory = mh.connect(url)
    payload = "x" * 200_000
    for turn in range(1_000_000):
        memory.add("big", [{"role": "Human", "content": f"{turn}:{payload}"},
                           {"role": "AI", "content": f"{turn}:{payload}"}])
        if turn == 3:
            Path(marker).write_text("writing")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("url")
    w.add_argument("writer")
    w.add_argument("--sessions", type=int, default=20)
    w.add_argument("--turns", type=int, default=100)
    w.add_argument("--window", type=int, default=12)
    w.add_argument("--delay", type=float, default=0.005)
    w.add_argument("--threads", type=int, default=2)
    h = sub.add_parser("hang")
    h.add_argument("url")
    h.add_argument("marker")
    h.add_argument("--lease-seconds", type=float, default=2.0)
    f = sub.add_parser("write-forever")
    f.add_argument("url")
    f.add_argument("marker")
    args = parser.parse_args()
    if args.command == "write":
        write_turns(args.url, args.writer, args.sessions, args.turns, args.window, args.delay,
                    args.threads)
    elif args.command == "hang":
        hang_in_fold(args.url, args.marker, args.lease_seconds)
    else:
        write_forever(args.url, args.marker)


if __name__ == "__main__":
    main()
