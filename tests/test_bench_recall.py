"""The recall benchmark's generator, loaders and metrics (benchmarks/recall_data.py), and
its bounded-summary baseline (benchmarks/bench_recall.py): fast, no model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(BENCH))  # bench_recall imports recall_data by name
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


data = _load("recall_data")


def small(**kw):
    return data.Options(**{"conversations": 2, "messages": 300, **kw})


def test_the_generator_is_deterministic_for_a_seed():
    a, b = data.generate(small(seed=3)), data.generate(small(seed=3))
    assert [c.turns for c in a.conversations] == [c.turns for c in b.conversations]
    assert [c.questions for c in a.conversations] == [c.questions for c in b.conversations]
    other = data.generate(small(seed=4))
    assert [c.turns for c in other.conversations] != [c.turns for c in a.conversations]


@pytest.mark.parametrize("seed", range(25))
def test_facts_are_planted_far_from_the_end_and_only_their_evidence_holds_the_answer(seed):
    opts = small(seed=seed, facts=12, distractors=4, recent=60)
    for conv in data.generate(opts).conversations:
        assert len(conv.turns) == 300
        assert [t.role for t in conv.turns[:4]] == ["Human", "AI", "Human", "AI"]
        index = {t.id: i for i, t in enumerate(conv.turns)}
        assert len(conv.questions) == 12
        for q in conv.questions:
            (evidence,) = q.evidence
            assert index[evidence] < 300 - 60
            assert q.answer.lower() in conv.turns[index[evidence]].content.lower()
            holders = [t.id for t in conv.turns if data.answer_in(q.answer, [t.content])]
            assert holders == [evidence]
            assert q.text not in {t.content for t in conv.turns}
            assert q.style in ("shared word", "paraphrase")
            if q.kind == "changed":
                (old,) = q.superseded
                assert index[old] < index[evidence]
                assert not data.answer_in(q.answer, [conv.turns[index[old]].content])
            else:
                assert q.kind == "static" and q.superseded == ()


def test_the_dataset_has_changed_facts_and_distractors_that_share_words():
    dataset = data.generate(data.Options(seed=7, conversations=8, messages=600))
    questions = [q for c in dataset.conversations for q in c.questions]
    assert sum(q.kind == "changed" for q in questions) >= 10
    assert {q.style for q in questions} == {"shared word", "paraphrase"}
    conv = dataset.conversations[0]
    sister = next((q for c in dataset.conversations for q in c.questions
                   if "sister" in q.text or "sibling" in q.text), None)
    assert sister is not None
    owner = next(c for c in dataset.conversations if sister in c.questions)
    names = next(f.values for f in data.FACTS if f.key == "sister")
    others = [t.content for t in owner.turns if t.id not in sister.evidence
              and any(data.answer_in(n, [t.content]) for n in names)]
    assert len(others) >= 4  # distractors: other names of the same kind...
    assert sum("sister" in t for t in others) >= 1  # ...in turns that share the fact's words
    assert not any(data.answer_in(sister.answer, [t]) for t in others)
    assert conv.id != dataset.conversations[1].id


def test_check_refuses_an_answer_that_leaks_into_another_turn():
    conv = data.generate(small(seed=1)).conversations[0]
    q = conv.questions[0]
    leaked = data.Turn("x", "AI", f"By the way, {q.answer} again.")
    with pytest.raises(AssertionError, match="answer"):
        data.check(data.Conversation(conv.id, [*conv.turns, leaked], conv.questions))


def test_score_on_a_hand_made_ranking():
    ranked = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    s = data.score(ranked, ["c"])
    assert s.recall == {1: 0.0, 5: 1.0, 10: 1.0} and s.rr == pytest.approx(1 / 3)
    assert not s.stale
    top = data.score(ranked, ["a"])
    assert top.recall == {1: 1.0, 5: 1.0, 10: 1.0} and top.rr == 1.0
    late = data.score(ranked, ["k"])  # rank 11: outside every cut-off
    assert late.recall == {1: 0.0, 5: 0.0, 10: 0.0} and late.rr == pytest.approx(1 / 11)
    missing = data.score(ranked, ["zz"])
    assert missing.recall == {1: 0.0, 5: 0.0, 10: 0.0} and missing.rr == 0.0
    two = data.score(ranked, ["b", "h"])  # a fraction of the evidence
    assert two.recall == {1: 0.0, 5: 0.5, 10: 1.0} and two.rr == 0.5
    assert data.score(["a", "a", "b"], ["b"]).rr == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        data.score(ranked, [])


def test_an_older_statement_ranked_first_is_a_miss_at_1_and_stale():
    newer_first = data.score(["new", "old"], ["new"], ["old"])
    assert newer_first.recall[1] == 1.0 and not newer_first.stale
    older_first = data.score(["old", "new"], ["new"], ["old"])
    assert older_first.recall[1] == 0.0 and older_first.recall[5] == 1.0
    assert older_first.stale and older_first.rr == 0.5
    assert data.score(["old", "x"], ["new"], ["old"]).stale  # only the old one found
    assert not data.score(["x"], ["new"], ["old"]).stale  # neither found


def test_totals_average_over_questions():
    t = data.Totals()
    t.add(data.score(["a", "b"], ["a"]))
    t.add(data.score(["old", "new"], ["new"], ["old"]), changed=True)
    t.add(data.score(["x"], ["y"]))
    assert t.n == 3
    assert t.at(1) == pytest.approx(1 / 3) and t.at(5) == pytest.approx(2 / 3)
    assert t.mrr == pytest.approx((1 + 0.5 + 0) / 3)
    assert t.stale_rate == 1.0
    assert data.Totals().stale_rate is None and data.Totals().at(5) == 0.0


def test_answer_in_matches_whole_words_ignoring_case():
    assert data.answer_in("level 3", ["I parked on Level 3 today"])
    assert not data.answer_in("level 3", ["up to level 30"])
    assert not data.answer_in("5 mg", ["take 25 mg a day"])
    assert data.answer_in("Mazda CX-5", ["my mazda cx-5."])
    assert not data.answer_in("Juno", ["Junoesque"])
    assert not data.answer_in("Priya", [])


def test_locomo_loader_reads_sessions_evidence_and_categories(tmp_path):
    sample = {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ana", "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a cat."},
                {"speaker": "Ben", "dia_id": "D1:2", "text": "Nice!", "blip_caption": "a cat"},
            ],
            "session_2_date_time": "2:00 pm on 9 May, 2023",
            "session_2": [{"speaker": "Ana", "dia_id": "D2:1", "text": "Her name is Luna."}],
        },
        "qa": [
            {"question": "What pet?", "answer": "a cat", "evidence": ["D1:1"], "category": 4},
            {"question": "Name and pet?", "answer": 2023, "evidence": ["D1:1; D2:1"],
             "category": 1},
            {"question": "Trick?", "adversarial_answer": "x", "evidence": ["D1:2"],
             "category": 5},
            {"question": "Lost?", "answer": "y", "evidence": ["D9:9"], "category": 2},
        ],
    }
    path = tmp_path / "locomo10.json"
    path.write_text(json.dumps([sample]))
    dataset = data.load("locomo", data.Options(path=str(path)))
    (conv,) = dataset.conversations
    assert [(t.id, t.role) for t in conv.turns] == [
        ("conv-1:D1:1", "Human"), ("conv-1:D1:2", "AI"), ("conv-1:D2:1", "Human")]
    assert conv.turns[1].content == "Ben: Nice! [shares a photo of a cat]"  # as the check
    assert conv.turns[1].metadata == {"dia_id": "D1:2", "date": "1:56 pm on 8 May, 2023"}
    assert [(q.text, q.evidence, q.answer, q.kind) for q in conv.questions] == [
        ("What pet?", ("conv-1:D1:1",), "a cat", "category 4"),
        ("Name and pet?", ("conv-1:D1:1", "conv-1:D2:1"), "2023", "category 1"),
        ("Trick?", ("conv-1:D1:2",), "x", "category 5"),
    ]
    assert "1 questions skipped" in dataset.notes[0]
    with_five = data.load("locomo", data.Options(path=str(path), categories=(5,)))
    assert [q.text for q in with_five.conversations[0].questions] == ["Trick?"]
    folder = tmp_path / "dev"  # the development half: one file per conversation
    folder.mkdir()
    (folder / "7.json").write_text(json.dumps({**sample["conversation"], "qa": sample["qa"]}))
    (one,) = data.load("locomo", data.Options(path=str(folder))).conversations
    assert one.id == "7" and [t.content for t in one.turns] == [t.content for t in conv.turns]
    with pytest.raises(SystemExit, match="no such file or folder"):
        data.load("locomo", data.Options(path=str(tmp_path / "missing")))


def test_the_registry_names_its_loaders():
    assert {"synthetic", "locomo"} <= set(data.LOADERS)
    with pytest.raises(SystemExit):
        data.load("nope", data.Options())
    with pytest.raises(SystemExit):
        data.load("locomo", data.Options(path=None))


def test_the_baseline_summary_keeps_only_the_newest_lines_within_its_budget():
    bench = _load("bench_recall")
    from langchain_core.messages import HumanMessage

    model = bench.TruncatingSummary(budget=40)
    prompt = ("...Current summary:\nHuman: old line\n\nNew lines of conversation:\n"
              "Human: first new\nAI: second new\n\nNew summary:\n")
    text = model.invoke([HumanMessage(prompt)]).content
    assert text == "Human: first new\nAI: second new"
    assert len(text) <= 40
    roomy = bench.TruncatingSummary(budget=1000).invoke([HumanMessage(prompt)]).content
    assert roomy == "Human: old line\nHuman: first new\nAI: second new"


def test_chatter_and_queries_are_seeded():
    assert data.chatter(50, 1) == data.chatter(50, 1) != data.chatter(50, 2)
    assert data.queries(20, 1) == data.queries(20, 1)
    assert len(set(data.queries(200, 1))) > 20
