"""The experiments' costs, each against a baseline measured in the same run.

Run by hand (about a minute on 2 cores):

    python benchmarks/bench_experiments.py

1. Fork of a 10,000-message session on the embedded store: p50 of ``memory.fork`` vs
   p50 of reading the same session's history once (``memory.history``), the least a
   copy through Python would cost. The fork copies rows inside SQLite.
2. Replay overhead per turn beyond the model's own time: an instant fake model, replay
   of a 50-turn session (one real turn each, folds waited for) vs the same 50 calls of
   ``model.invoke`` with the same prompts. Reported as ms per turn.
3. Compare 4 models that each take 50 ms: wall time of ``compare`` vs one model alone
   (concurrency: ~1x means the four ran at once).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from langchain_core.language_models import FakeListChatModel  # noqa: E402

import motorhead_magic as mh  # noqa: E402
from motorhead_magic.chat.turn import build_messages  # noqa: E402

RUNS = 15


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class SlowFake(FakeListChatModel):
    """A fake model that takes ``delay`` seconds before it answers, like a network call."""

    delay: float = 0.05

    def _call(self, *args: Any, **kwargs: Any) -> str:
        time.sleep(self.delay)
        return super()._call(*args, **kwargs)

    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay)
        yield from super()._stream(*args, **kwargs)


def bench_fork(folder: Path) -> None:
    memory = mh.connect(f"sqlite:///{folder / 'fork.db'}")
    memory.add("big", [{"role": "Human" if i % 2 else "AI", "content": f"message {i} " * 8}
                       for i in range(10_000)])
    forks = [timed(lambda i=i: memory.fork("big", f"copy-{i}")) for i in range(RUNS)]
    reads = [timed(lambda: memory.history("big")) for _ in range(RUNS)]
    print(f"fork of a 10,000-message session: p50 {p50(forks):7.2f} ms"
          f"   read of its history: p50 {p50(reads):7.2f} ms"
          f"   ratio {p50(forks) / p50(reads):.2f}x")
    memory.close()


def bench_replay(folder: Path) -> None:
    memory = mh.connect(f"sqlite:///{folder / 'replay.db'}", window_size=12)
    turns = 50
    for i in range(turns):
        memory.add("source", [{"role": "Human", "content": f"question {i}"},
                              {"role": "AI", "content": f"answer {i}"}])
    model = FakeListChatModel(responses=["ok"])
    mh.replay(memory, "source", model, new_id="warm-up")  # pandas and LangChain loaded once
    started = time.perf_counter()
    mh.replay(memory, "source", model, new_id="replayed")
    replay_seconds = time.perf_counter() - started
    view = memory.get("source")
    messages = build_messages(view, "question", None)
    bare = timed(lambda: [model.invoke(messages) for _ in range(turns)])
    extra = (replay_seconds - bare) / turns * 1000
    print(f"replay of {turns} turns: {replay_seconds * 1000 / turns:6.2f} ms/turn"
          f"   model alone: {bare * 1000 / turns:6.2f} ms/turn"
          f"   overhead {extra:.2f} ms/turn (target < 5 ms)")
    memory.close()


def bench_compare(folder: Path) -> None:
    memory = mh.connect(f"sqlite:///{folder / 'compare.db'}")
    memory.add("s", [{"role": "Human", "content": "hi"}, {"role": "AI", "content": "hello"}])
    models = {f"m{i}": SlowFake(responses=[f"reply {i}"]) for i in range(4)}
    one = [timed(lambda: models["m0"].invoke("hi")) for _ in range(5)]
    four = [timed(lambda: mh.compare(memory, "s", "what now?", models)) for _ in range(5)]
    print(f"compare of 4 models (50 ms each): p50 {p50(four):7.1f} ms"
          f"   one model: p50 {p50(one):7.1f} ms   ratio {p50(four) / p50(one):.2f}x"
          " (4.0x would be one after another)")
    memory.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        bench_fork(Path(folder))
        bench_replay(Path(folder))
        bench_compare(Path(folder))


if __name__ == "__main__":
    main()
