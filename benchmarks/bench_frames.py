"""Messages to a DataFrame: column-wise export vs ``pd.DataFrame(list_of_dicts)``.

Run by hand (about a minute on 2 cores; needs ~1 GB of RAM):

    python benchmarks/bench_frames.py            # 1,000,000 messages
    python benchmarks/bench_frames.py 100000     # a quicker run

The store is a fresh SQLite file in a temporary directory, filled through the
public ``memory.add`` (10 sessions, 10,000 messages per call, a third with
metadata). The baseline is what a user would write without ``to_dataframe``:
``pd.DataFrame([m.to_dict() for m in memory.history(sid)])`` per session.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import motorhead_magic as mh

SESSIONS = 10
BATCH = 10_000


def fill(memory: mh.Memory, total: int) -> None:
    per_session = total // SESSIONS
    for s in range(SESSIONS):
        for start in range(0, per_session, BATCH):
            memory.add(f"session-{s}", [
                {"role": "Human" if i % 2 == 0 else "AI",
                 "content": f"message {start + i} of session {s}: some words to count",
                 "metadata": {"turn": (start + i) // 2} if i % 3 == 0 else {}}
                for i in range(min(BATCH, per_session - start))
            ])


def best_of(runs: int, action):  # noqa: ANN001, ANN201 - tiny local helper
    times, result = [], None
    for _ in range(runs):
        result = None
        gc.collect()
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def from_history_dicts(memory: mh.Memory) -> pd.DataFrame:
    rows = [m.to_dict() for sid in memory.sessions() for m in memory.history(sid)]
    return pd.DataFrame(rows)


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        memory = mh.connect(f"sqlite:///{Path(tmp) / 'bench.db'}")
        started = time.perf_counter()
        fill(memory, total)
        print(f"filled {total:,} messages in {time.perf_counter() - started:.1f} s")
        columnwise, frame = best_of(3, memory.to_dataframe)
        assert len(frame) == total
        del frame
        baseline, frame = best_of(1, lambda: from_history_dicts(memory))
        assert len(frame) == total
        del frame
        one, frame = best_of(3, lambda: memory.to_dataframe("session-0"))
        memory.close()
    print()
    print(f"{'messages to a DataFrame':<44}{'seconds':>10}{'ratio':>10}")
    print(f"{'pd.DataFrame(history() dicts) (baseline)':<44}{baseline:>10.2f}{1:>10.2f}")
    print(f"{'memory.to_dataframe() (column-wise)':<44}{columnwise:>10.2f}"
          f"{columnwise / baseline:>10.2f}")
    print(f"{'memory.to_dataframe(one session)':<44}{one:>10.2f}{one / baseline:>10.2f}")
    print(f"\nspeed-up: {baseline / columnwise:.1f}x; target: {total:,} messages in < 3 s"
          f" -> {'met' if columnwise < 3 * total / 1_000_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
