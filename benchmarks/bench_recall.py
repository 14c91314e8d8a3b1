"""Long-term memory recall: does search find facts the window and the summary lost?

    nice -n 10 python benchmarks/bench_recall.py [--dataset synthetic] [--seed 7]
        [--conversations 8] [--messages 600] [--facts 12] [--distractors 4] [--window 12]
        [--summary-chars 2000] [--summarizer truncate|local] [--store sqlite,redis]
    python benchmarks/bench_recall.py --dataset locomo --path ../shared/data/locomo-dev
        [--only 26,30] [--categories 1,2,3,4,5] [--store sqlite|redis|sqlite,redis]

Each conversation is written to a fresh store turn by turn (``add()`` of one Human and
one AI message; ``--batch``) through ``mh.connect(url, window_size=W, summarizer=...,
embeddings="local")``, then ``wait()`` lets the background folds and embedding finish,
and each question is asked at the end with ``search(k=10)`` over the whole log (no
``before=``) by keyword (BM25), semantic (local all-MiniLM-L6-v2) and the default
(hybrid: words and meaning, each message in its context, ``memory/ranking.py``).

Scores are of the evidence turns (recall_data.py): recall@k = the fraction of a
question's evidence in the top k, MRR = mean 1/rank of the first evidence turn. A fact
that changed counts only its newest statement as evidence, so the older statement
ranked first is a miss at @1 (``stale@1``: how often the older one outranks the newest).

The baseline is what a memory without search gives a prompt: the window (the newest W
messages) and the running summary. It has no ranking, so its number is a hit rate
(recall@any): the question's answer string appears in the window or in the summary
text. Its summarizer keeps a bounded summary, as a real one must: ``truncate`` (the
default) appends the folded lines and keeps the newest ``--summary-chars`` characters
of whole lines (2,000 characters ~ 500 tokens, about upstream Motörhead's 512-token
summary cap); ``local`` uses the project's offline SmolLM2 (slow: ~1 s per call; use
``--batch 20`` and fewer messages). Targets: default recall@5 >= 0.90 and well above the
baseline (at least 0.3 above it).

``--dataset locomo --path ../shared/data/locomo-dev`` runs LoCoMo (Maharana et al., ACL
2024): its development half, one JSON file per conversation, stored as that folder's
README says, on both stores by default, every category (``--categories``, ``--only``).
The data is not in this repository and nothing downloads it (``locomo10.json`` from the
authors' repository works too).

MEASURED: benchmarks/README.md ("Recall on real conversations") keeps the runs, the
levers tried and the cross-validation behind the default ranking's weights.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recall_data as data  # noqa: E402
from bench_engine import start_redis  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

import motorhead_magic as mh  # noqa: E402

MODES = ("keyword", "semantic", "hybrid")
LABELS = {"keyword": "keyword (BM25)", "semantic": "semantic (local MiniLM)",
          "hybrid": "default (hybrid, in context)"}


class TruncatingSummary(BaseChatModel):
    """A bounded summary without an LLM: the previous summary plus the new lines, of which
    only the newest ``budget`` characters (whole lines) are kept."""

    budget: int = 2000
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "truncating-summary"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        previous = between(prompt, "Current summary:\n", "\n\nNew lines of conversation:")
        lines = between(prompt, "New lines of conversation:\n", "\n\nNew summary:")
        kept: list[str] = []
        used = 0
        for line in reversed([*previous.strip().splitlines(), *lines.strip().splitlines()]):
            if used + len(line) + 1 > self.budget:
                break
            kept.append(line)
            used += len(line) + 1
        self.calls += 1
        text = "\n".join(reversed(kept))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def between(text: str, start: str, end: str) -> str:
    return text.rsplit(start, 1)[-1].split(end, 1)[0]


def make_summarizer(args: argparse.Namespace) -> tuple[Any, str]:
    if args.summarizer == "local":
        from motorhead_magic.chat.models import resolve_summarizer

        return resolve_summarizer("local"), "the offline SmolLM2 (local)"
    return (TruncatingSummary(budget=args.summary_chars),
            f"truncating: the newest {args.summary_chars:,} characters of folded lines")


def embeddings_available() -> str | None:
    """Why the local embeddings cannot run here, or None."""
    try:
        from motorhead_magic.memory.embeddings import resolve_embeddings

        resolve_embeddings("local")
    except Exception as exc:  # noqa: BLE001 - reported, semantic modes skipped
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class Measured:
    """One store's results: per mode overall, per conversation and per question kind."""

    store: str
    totals: dict[str, data.Totals]
    by_conversation: dict[str, dict[str, data.Totals]]
    by_kind: dict[str, dict[str, data.Totals]]
    baseline: dict[str, list[int]]  # kind ("all" too) -> [hits, questions]
    latency: dict[str, list[float]]
    written: float
    settled: float


def measure(dataset: data.Dataset, args: argparse.Namespace, store: str,
            modes: tuple[str, ...]) -> Measured:
    """Write every conversation to a fresh ``store``, let folds and embedding finish, then
    ask every question in every mode."""
    summarizer, _ = make_summarizer(args)
    tmp = Path(tempfile.mkdtemp(prefix="bench_recall_"))
    redis = None
    if store == "redis":
        redis, url = start_redis()
    else:
        url = f"sqlite:///{tmp}/recall.db"

    def table() -> dict[str, data.Totals]:
        return {m: data.Totals() for m in modes}

    out = Measured(store, table(), defaultdict(table), defaultdict(table),
                   defaultdict(lambda: [0, 0]), {m: [] for m in modes}, 0.0, 0.0)
    try:
        memory = mh.connect(url, window_size=args.window, summarizer=summarizer,
                            embeddings="local" if "semantic" in modes else None)
        start = time.perf_counter()
        for conv in dataset.conversations:
            for i in range(0, len(conv.turns), args.batch):
                memory.add(conv.id, [{"role": t.role, "content": t.content,
                                      "metadata": t.metadata}
                                     for t in conv.turns[i:i + args.batch]])
        out.written = time.perf_counter() - start
        memory.wait(timeout=args.timeout)
        out.settled = time.perf_counter() - start
        for conv in dataset.conversations:
            view = memory.get(conv.id)
            shown = [m.content for m in view.messages] + [view.context or ""]
            for q in conv.questions:
                changed = bool(q.superseded)
                for mode in modes:
                    began = time.perf_counter()
                    hits = memory.search(conv.id, q.text, k=max(data.KS), mode=mode)
                    out.latency[mode].append((time.perf_counter() - began) * 1000)
                    ranked = [conv.turns[h.message.seq].id for h in hits]
                    s = data.score(ranked, q.evidence, q.superseded)
                    out.totals[mode].add(s, changed)
                    out.by_conversation[conv.id][mode].add(s, changed)
                    for kind in filter(None, (q.kind, q.style)):
                        out.by_kind[kind][mode].add(s, changed)
                if q.answer is not None:
                    hit = data.answer_in(q.answer, shown)
                    for kind in filter(None, ("all", q.kind, q.style)):
                        out.baseline[kind][0] += hit
                        out.baseline[kind][1] += 1
        memory.close()
    finally:
        if redis is not None:
            redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def report(dataset: data.Dataset, args: argparse.Namespace, results: list[Measured],
           modes: tuple[str, ...], missing: str | None) -> None:
    messages = sum(len(c.turns) for c in dataset.conversations)
    print(f"dataset {dataset.name}:")
    for note in dataset.notes:
        print(textwrap.fill(note, 92, initial_indent="  ", subsequent_indent="  "))
    print(f"window {args.window}, embeddings "
          f"{'local all-MiniLM-L6-v2' if 'semantic' in modes else 'none'}"
          + (f" (semantic and hybrid skipped: {missing})" if missing else ""))
    print(f"summarizer {make_summarizer(args)[1]}")
    for r in results:
        print()
        print(f"== store {r.store}: {messages:,} messages in {r.written:.1f} s of add(); "
              f"background folds and embedding done after {r.settled:.1f} s")
        questions = r.totals[modes[0]].n
        print(f"{'method (' + str(questions) + ' questions)':30} {'R@1':>6} {'R@5':>6} "
              f"{'R@10':>6} {'MRR':>6} {'stale@1':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for mode in modes:
            t = r.totals[mode]
            stale = "-" if t.stale_rate is None else f"{t.stale_rate:.2f}"
            lat = sorted(r.latency[mode])
            print(f"{LABELS[mode]:30} {t.at(1):6.3f} {t.at(5):6.3f} {t.at(10):6.3f} "
                  f"{t.mrr:6.3f} {stale:>8} {statistics.median(lat):8.1f} "
                  f"{lat[int(0.95 * (len(lat) - 1))]:8.1f}")
        hits, n = r.baseline["all"]
        if n:
            print(f"{'window + summary only':30} hit rate {hits / n:.2f} (the answer is in the "
                  "window or the summary; no ranking, so no @k)")
        for title, groups in (("conversation", r.by_conversation), ("kind", r.by_kind)):
            print()
            print(f"R@5 / MRR by {title:14}" + "".join(f"{LABELS[m][:18]:>20}" for m in modes))
            for name in sorted(groups, key=lambda g: (len(g), g)):
                cells = "".join(f"{groups[name][m].at(5):>11.3f} / {groups[name][m].mrr:.3f}"
                                for m in modes)
                print(f"{name + f' ({groups[name][modes[0]].n})':28}{cells}")
        print()
        targets(dataset, r, modes)


def targets(dataset: data.Dataset, r: Measured, modes: tuple[str, ...]) -> None:
    """The issue's targets for this data set, met or not."""
    if "hybrid" not in modes:
        return
    best, words = r.totals["hybrid"], r.totals["keyword"]

    def line(what: str, ok: bool) -> None:
        print(f"target {what} -> {'met' if ok else 'NOT met'}")

    if dataset.name == "locomo":
        line(f"default recall@5 >= 0.75: {best.at(5):.3f}", best.at(5) >= 0.75)
        line(f"default MRR >= 0.60: {best.mrr:.3f}", best.mrr >= 0.60)
        below = [c for c, t in r.by_conversation.items()
                 if t["hybrid"].at(5) < t["keyword"].at(5)]
        line(f"default never below keyword on a conversation (R@5): below on "
             f"{', '.join(below) or 'none'}", not below)
    else:
        line(f"default recall@5 >= 0.90: {best.at(5):.3f}", best.at(5) >= 0.9 - 1e-9)
        stale = best.stale_rate
        if stale is not None:
            line(f"default stale@1 <= 0.25: {stale:.2f}", stale <= 0.25)
    line(f"default at least keyword (R@5 {best.at(5):.3f} vs {words.at(5):.3f})",
         best.at(5) >= words.at(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic", choices=sorted(data.LOADERS))
    parser.add_argument("--path", help="locomo: the folder of conversations "
                                       "(../shared/data/locomo-dev) or locomo10.json")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--messages", type=int, default=600, help="per conversation")
    parser.add_argument("--facts", type=int, default=12, help="per conversation")
    parser.add_argument("--distractors", type=int, default=4, help="per fact")
    parser.add_argument("--change", type=float, default=0.4,
                        help="fraction of changeable facts that change later")
    parser.add_argument("--recent", type=int, default=60,
                        help="nothing is planted among the newest N messages")
    parser.add_argument("--categories", default="1,2,3,4,5", help="LoCoMo categories")
    parser.add_argument("--only", help="locomo: these conversations only (e.g. 26,30)")
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--summary-chars", type=int, default=2000)
    parser.add_argument("--summarizer", choices=("truncate", "local"), default="truncate")
    parser.add_argument("--embeddings", choices=("local", "none"), default="local")
    parser.add_argument("--store", default=None,
                        help="sqlite, redis or both (sqlite,redis); default: both for "
                             "locomo, sqlite for synthetic")
    parser.add_argument("--batch", type=int, default=2, help="messages per add()")
    parser.add_argument("--timeout", type=float, default=3600.0, help="for wait()")
    args = parser.parse_args()
    opts = data.Options(seed=args.seed, conversations=args.conversations,
                        messages=args.messages, facts=args.facts,
                        distractors=args.distractors, change=args.change, recent=args.recent,
                        path=args.path,
                        categories=tuple(int(c) for c in args.categories.split(",") if c))
    if args.recent < args.window:
        parser.error("--recent must be at least --window (evidence outside the window)")
    stores = (args.store or ("sqlite,redis" if args.dataset == "locomo" else "sqlite"))
    stores = [s.strip() for s in stores.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "redis"}:
        parser.error(f"--store takes sqlite, redis or both, got {args.store!r}")
    dataset = data.load(args.dataset, opts)
    if args.only:
        wanted = set(args.only.split(","))
        dataset.conversations = [c for c in dataset.conversations if c.id in wanted]
    missing = None if args.embeddings == "none" else embeddings_available()
    modes = MODES if args.embeddings == "local" and missing is None else ("keyword",)
    results = [measure(dataset, args, store, modes) for store in stores]
    report(dataset, args, results, modes, missing)


if __name__ == "__main__":
    main()
