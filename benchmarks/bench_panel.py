"""The memory panel at scale: open time, render time and widget state size vs session length.

Run by hand (about 30 s):

    python benchmarks/bench_panel.py

To compare with another revision, run this same file from a checkout of it (e.g.
``git worktree add /tmp/base HEAD~1 && cd /tmp/base && python /path/to/bench_panel.py``):
it uses only ``Panel``, ``refresh`` and ``widget_state_bytes``.

Each session is filled through ``memory.add`` in a temporary SQLite store
(window 12, no summarizer, so every older message stays in the log). "Open"
is ``Panel(memory, sid)``: constructing every widget and the first render. "Render"
is ``panel.refresh()`` on an open panel: one read of the session and new values for
every widget (what each write or fold costs a live panel).
"State" is the JSON size of the state of the panel and all its children, i.e.
what the browser receives on display. Ratios are against the 10-message session
measured in the same run; the state must stay flat past one page (20 older
messages + the window).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import motorhead_magic as mh
from motorhead_magic.notebook.panel import Panel, widget_state_bytes

SIZES = (10, 100, 1_000, 10_000, 100_000)
OPEN_RUNS = 5
RENDER_RUNS = 20


def fill(memory: mh.Memory, sid: str, count: int) -> None:
    for start in range(0, count, 10_000):
        memory.add(sid, [{"role": "Human" if i % 2 == 0 else "AI",
                          "content": f"message {i:06} of {sid}: a line of chat text"}
                         for i in range(start, min(count, start + 10_000))])


def open_panel(memory: mh.Memory, sid: str) -> tuple[float, float, int]:
    times, state = [], 0
    for _ in range(OPEN_RUNS):
        started = time.perf_counter()
        panel = Panel(memory, sid)
        times.append(time.perf_counter() - started)
        state = widget_state_bytes(panel)
        panel.close()
    panel = Panel(memory, sid)
    renders = []
    for _ in range(RENDER_RUNS):
        started = time.perf_counter()
        panel.refresh()
        renders.append(time.perf_counter() - started)
    panel.close()
    return statistics.median(times), statistics.median(renders), state


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory = mh.connect(f"sqlite:///{Path(tmp) / 'bench.db'}", window_size=12)
        Panel(memory, None).close()  # warm up imports and widget classes
        results = {}
        for size in SIZES:
            sid = f"s{size}"
            fill(memory, sid, size)
            results[size] = open_panel(memory, sid)
        memory.close()
    base_time, _, base_state = results[SIZES[0]]
    print(f"{'messages':>10}{'open (ms)':>12}{'time ratio':>12}{'render (ms)':>13}"
          f"{'state (bytes)':>15}{'state ratio':>13}")
    for size, (seconds, render, state) in results.items():
        print(f"{size:>10,}{seconds * 1000:>12.1f}{seconds / base_time:>12.2f}"
              f"{render * 1000:>13.2f}{state:>15,}{state / base_state:>13.2f}")
    open_10k = results[10_000][0]
    print(f"\n10,000 messages open in {open_10k * 1000:.0f} ms (target < 1000 ms)"
          f" -> {'met' if open_10k < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
