"""The JupyterLab sidebar at scale: 10,000 sessions and a 10,000-message session.

    python benchmarks/bench_lab.py [--sessions 10000] [--messages 10000] [--repeat 5]

Starts a real JupyterLab (as the browser tests do) on a seeded SQLite store and
drives Debian Chromium. Reports, p50 over ``--repeat`` runs:

- time to first paint of the session list and of the session view, in the
  browser: from the click to the frame after the rows are in the DOM (the view
  opens scrolled to the newest message);
- one poll of the open session that finds nothing new (what the view costs every
  10 s while visible): its time, and that it re-rendered nothing;
- server time and bytes of each page request the sidebar makes;
- ratios against baselines measured in the same run: bytes of the unpaginated
  answer (every session / every message) and the store call alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import motorhead_magic as mh  # noqa: E402
from motorhead_magic.jupyter.handlers import history_page, list_sessions  # noqa: E402
from tests.browser.conftest import launch_chromium, open_lab, running_lab  # noqa: E402

BIG = "big session"

NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

LIST_PAINT = """async () => {
  const list = document.querySelector('.mh-session-list');
  list.replaceChildren();
  const t0 = performance.now();
  document.querySelector('.mh-refresh').click();
  while (!list.querySelector('.mh-session-item')) {
    await new Promise(r => requestAnimationFrame(r));
  }
  await new Promise(r => requestAnimationFrame(r));
  return [performance.now() - t0, list.children.length];
}"""

SESSION_PAINT = """async (id) => {
  const t0 = performance.now();
  const item = [...document.querySelectorAll('.mh-session-item')]
    .find(e => e.dataset.sessionId === id);
  item.click();
  const done = () => document.querySelector('.mh-session-view:not([hidden]) .mh-message')
    && document.querySelector('.mh-summary-text');
  while (!done()) {
    await new Promise(r => requestAnimationFrame(r));
  }
  await new Promise(r => requestAnimationFrame(r));
  return [performance.now() - t0, document.querySelectorAll('.mh-message').length];
}"""

SESSION_POLL = """async () => {
  const sidebar = [...window.jupyterapp.shell.widgets('left')]
    .find(w => w.id === 'motorhead-magic-sidebar');
  const first = document.querySelector('.mh-message');
  const t0 = performance.now();
  await sidebar.poll();
  return [performance.now() - t0, document.querySelector('.mh-message') === first];
}"""

LOAD_OLDER = """async () => {
  const before = document.querySelectorAll('.mh-message').length;
  const t0 = performance.now();
  document.querySelector('.mh-load-older').click();
  while (document.querySelectorAll('.mh-message').length === before) {
    await new Promise(r => requestAnimationFrame(r));
  }
  await new Promise(r => requestAnimationFrame(r));
  return [performance.now() - t0, document.querySelectorAll('.mh-message').length];
}"""


def seed(store_url: str, sessions: int, messages: int) -> float:
    start = time.perf_counter()
    memory = mh.connect(store_url)
    try:
        for i in range(sessions - 1):
            memory.add(f"session-{i:05d}", [{"role": "Human", "content": f"hello {i}"},
                                            {"role": "AI", "content": f"hi there {i}"}])
        batch = 1000
        for start_seq in range(0, messages, batch):
            memory.add(BIG, [{"role": "Human" if j % 2 == 0 else "AI",
                              "content": f"message {j}: " + "lorem ipsum dolor sit amet " * 3}
                             for j in range(start_seq, min(messages, start_seq + batch))])
        memory.add(BIG, [], context="A running summary of a very long conversation. " * 5)
    finally:
        memory.close()
    return time.perf_counter() - start


def fetch(url: str, repeat: int) -> tuple[float, int]:
    """p50 milliseconds and the body size in bytes of one GET."""
    samples, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            size = len(response.read())
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), size


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp, running_lab(Path(tmp)) as lab:
        seconds = seed(lab.store_url, args.sessions, args.messages)
        print(f"seeded {args.sessions:,} sessions (one of {args.messages:,} messages)"
              f" in {seconds:.1f}s")

        api = f"{lab.url}/motorhead-magic/api"
        big = quote(BIG, safe="")
        print("\nserver, p50 over", args.repeat, "requests (ms, bytes):")
        rows = {
            "list page (50 of all)": f"{api}/sessions?page=1&size=50",
            "list search q=session-009": f"{api}/sessions?page=1&size=50&q=session-009",
            "session detail (window+summary)": f"{api}/sessions/{big}",
            "history page (100 newest)": f"{api}/sessions/{big}/history?limit=100",
            "history page (oldest 100)": f"{api}/sessions/{big}/history?limit=100&cursor=100",
        }
        sizes = {}
        for name, url in rows.items():
            ms, size = fetch(url, args.repeat)
            sizes[name] = size
            print(f"  {name:42s} {ms:8.1f} ms  {size:10,d} B")

        memory = mh.connect(lab.store_url)
        try:
            store_ms = p50([_timed(memory.session_infos) for _ in range(args.repeat)])
            every_session = asyncio.run(list_sessions(memory, 1, args.sessions + 1, ""))
            every_message = asyncio.run(history_page(memory, BIG, None, args.messages))
            all_sessions = len(json.dumps(every_session))
            all_messages = len(json.dumps(every_message))
        finally:
            memory.close()
        print(f"\nbaseline: store.session_infos() alone {store_ms:.1f} ms;"
              f" unpaginated answers {all_sessions:,} B (all sessions),"
              f" {all_messages:,} B (all messages)")
        print(f"  list page is {sizes['list page (50 of all)'] / all_sessions:.4f}x the"
              f" bytes of all sessions; history page is"
              f" {sizes['history page (100 newest)'] / all_messages:.4f}x of all messages")

        with sync_playwright() as p:
            browser = launch_chromium(p)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(120_000)
            page = open_lab(context, lab)
            start = time.perf_counter()
            page.evaluate("() => window.jupyterapp.commands.execute('motorhead:open-sidebar')")
            page.wait_for_selector(".mh-session-item")
            page.evaluate(NEXT_FRAME)
            cold = (time.perf_counter() - start) * 1000
            lists, views, olders, polls, kept = [], [], [], [], True
            for _ in range(args.repeat):
                ms, shown = page.evaluate(LIST_PAINT)
                lists.append(ms)
                ms, messages = page.evaluate(SESSION_PAINT, BIG)
                views.append(ms)
                ms, same = page.evaluate(SESSION_POLL)
                polls.append(ms)
                kept = kept and same
                ms, more = page.evaluate(LOAD_OLDER)
                olders.append(ms)
                page.click(".mh-back")
                page.wait_for_selector(".mh-session-item")
            resources = page.evaluate(
                "() => performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('/motorhead-magic/api/'))"
                ".map(e => e.encodedBodySize)")
            browser.close()
        print(f"\nbrowser (Chromium), p50 over {args.repeat}:")
        for label, ms, vs_target in [
            ("list first paint (cold: open sidebar)", cold, True),
            (f"list first paint (refresh, {shown} rows)", p50(lists), True),
            (f"session view first paint ({messages} msgs)", p50(views), True),
            ("session poll, nothing new (2 requests)", p50(polls), False),
            (f"load older (+100, {more} shown)", p50(olders), False),
        ]:
            note = f"{ms / 1000:.3f}x the 1 s target" if vs_target else ""
            print(f"  {label:42s} {ms:8.1f} ms  {note}")
        print(f"  session polls that found nothing new re-rendered nothing: {kept}")
        print(f"  bytes per API response in the browser: max {max(resources):,} B,"
              f" mean {statistics.mean(resources):,.0f} B over {len(resources)} requests")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
