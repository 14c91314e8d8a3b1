"""How the default search orders a session's messages: words and meaning, in context.

A chat is not a pile of documents. On real conversations (LoCoMo: long chats between
two people with each question's evidence turns annotated, ``benchmarks/bench_recall.py
--dataset locomo``), the turn that holds a fact is often the *reply* to the turn that
matches the question ("What made you try pottery?" - "I took a class with my kids ...
[shares a photo of a bowl]"), questions themselves hold few facts, and a question that
names a person is usually about what that person said. So a message's score is a linear
mix of

- how well its own words (BM25, divided by the best BM25 of the query) and meaning
  (cosine, min-max normalized over the session) match the query,
- how well the message *before* it and the one *after* it match (its context),
- and what it is: a message that asks (has a ``?``) scores less, a longer one more
  (it says more), and one whose author the query names more (a leading ``Name:`` as
  transcripts and LoCoMo write it).

The weights were fitted on LoCoMo's development conversations by cross-validation across
conversations (fit on four, score the fifth), by a grid search on recall@5 + MRR there
plus half of it on the generated set of ``bench_recall.py`` (seed 7), so that a rule
good on one kind of chat is not bought with the other; the ones here are fitted on all
five. (Fitted on LoCoMo alone, meaning weighs as much as words and LoCoMo gains 0.01
at recall@5, but the generated set, whose questions paraphrase, loses 0.08.) Without
meaning (no embedder, or one that failed) the same rule runs on words alone, with its own
weights. ``benchmarks/README.md`` has the measurements, each step's gain and the levers
that did not help.

Pure functions over numbers: no store, no embedder, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..records import Message


@dataclass(frozen=True)
class Weights:
    """One linear ranking rule (see the module docstring for what each term is)."""

    words: float
    meaning: float
    words_before: float  # the previous message's words match (this may be its reply)
    meaning_before: float
    words_after: float  # the next message's words match
    meaning_after: float
    asks: float  # subtracted from a message with a question mark
    length: float  # times min(characters, LONG) / LONG
    author: float  # the query names the message's author


# Fitted on the five LoCoMo dev conversations, WITH_MEANING together with the generated
# set (benchmarks/README.md, "Recall on real conversations"). A recency term was tried and
# left out: its weight came out 0 in four of five folds.
WITH_MEANING = Weights(words=1.0, meaning=3.0, words_before=1.0, meaning_before=0.4,
                       words_after=0.2, meaning_after=0.4, asks=0.3, length=1.0,
                       author=0.2)
WORDS_ONLY = Weights(words=1.0, meaning=0.0, words_before=0.5, meaning_before=0.0,
                     words_after=0.1, meaning_after=0.0, asks=0.3, length=0.5,
                     author=0.2)
LONG = 300  # characters; longer messages get no more length bonus
AUTHOR = re.compile(r"\s*([^\W\d_][\w'-]{0,39})(?: [^\W\d_][\w'-]{0,39})?:\s")


class Meaning:
    """One query's cosines over a session: ``seqs`` ascending (a numpy int array) and their
    ``scores``, min-max normalized onto [0, 1] here."""

    def __init__(self, seqs: Any, cosines: Any) -> None:
        self.seqs = seqs
        self.raw = cosines
        low, high = (float(cosines.min()), float(cosines.max())) if len(cosines) else (0, 0)
        self.scores = (cosines - low) / (high - low) if high > low else cosines * 0 + 1.0

    def at(self, seqs: list[int]) -> list[float]:
        """The normalized scores of ``seqs`` (0 for a seq without a vector)."""
        import numpy as np

        if not len(self.seqs):
            return [0.0] * len(seqs)
        wanted = np.asarray(seqs, dtype=np.int64)
        where = np.clip(np.searchsorted(self.seqs, wanted), 0, len(self.seqs) - 1)
        found = self.seqs[where] == wanted
        return np.where(found, self.scores[where], 0.0).tolist()

    def cosines(self, count: int) -> list[tuple[int, float]]:
        """The best ``count`` ``(seq, cosine)``, best first, newer first at equal scores
        (semantic search: meaning alone)."""
        import numpy as np

        top = np.asarray(self.best(count), dtype=np.int64)
        where = np.searchsorted(self.seqs, top)
        scores = self.raw[where]
        order = np.lexsort((-top, -scores))
        return [(int(top[i]), float(scores[i])) for i in order]

    def best(self, count: int) -> list[int]:
        """The seqs of the ``count`` best scores."""
        import numpy as np

        if len(self.scores) <= count:
            return self.seqs.tolist()
        return self.seqs[np.argpartition(-self.raw, count - 1)[:count]].tolist()


def candidates(words: Mapping[int, float], meaning: Meaning | None, weights: Weights,
               pool: int, before: int | None) -> list[tuple[int, float]]:
    """The best ``pool`` seqs by the match terms (own, before, after), best first, from the
    words' hits, meaning's best ``pool`` and their neighbours; ``words`` maps a seq to its
    raw BM25 score. (Keeping every candidate for :func:`with_priors` instead of the best
    ``pool`` changed nothing on LoCoMo and read three times the messages.)"""
    top = max(words.values(), default=0.0)
    by_words = {seq: score / top for seq, score in words.items()} if top > 0 else {}
    found = set(by_words)
    if meaning is not None:
        found.update(meaning.best(pool))
    seqs = sorted({s + d for s in found for d in (-1, 0, 1)
                   if s + d >= 0 and (before is None or s + d < before)})
    if not seqs:
        return []
    near = sorted({s + d for s in seqs for d in (-1, 1)} | set(seqs))
    sense = dict(zip(near, meaning.at(near))) if meaning is not None else {}
    w = weights
    scored = [(s, w.words * by_words.get(s, 0.0) + w.meaning * sense.get(s, 0.0)
               + w.words_before * by_words.get(s - 1, 0.0)
               + w.meaning_before * sense.get(s - 1, 0.0)
               + w.words_after * by_words.get(s + 1, 0.0)
               + w.meaning_after * sense.get(s + 1, 0.0)) for s in seqs]
    scored.sort(key=lambda item: (-item[1], -item[0]))  # newer first at equal scores
    return scored[:pool]


def author(message: Message) -> str | None:
    """Who wrote a message, when its text says so (``"Caroline: ..."``), lowercased."""
    match = AUTHOR.match(message.content)
    return match.group(1).lower() if match else None


def with_priors(scored: list[tuple[int, float]], known: Mapping[int, Message],
                names: frozenset[str], weights: Weights) -> list[tuple[int, float]]:
    """``scored`` (of messages in ``known``) plus what each message is, best first;
    ``names`` are the query's words, lowercased (``stores.words.query_terms``)."""
    w = weights
    out = []
    for seq, score in scored:
        message = known.get(seq)
        if message is None:  # deleted meanwhile
            continue
        text = message.content
        score += w.length * min(len(text), LONG) / LONG
        if "?" in text:
            score -= w.asks
        if w.author and names and author(message) in names:
            score += w.author
        out.append((seq, score))
    out.sort(key=lambda item: (-item[1], -item[0]))
    return out
