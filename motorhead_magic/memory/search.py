"""Long-term memory over a local store: search by words, by meaning, or both.

Words come from the store's BM25 index (``stores/words.py``), always there. Meaning
needs an embedder (a LangChain ``Embeddings`` or ``"local"``): the :class:`Indexer`
embeds new messages on a background thread once a session's writes pause (never on the
write path; ``LocalMemory`` schedules it) and stores the vectors beside the messages;
:class:`Searcher` keeps each searched session's vectors in process memory as one
normalized matrix, topped up from the store by seq (the log is append-only), so a
search is a matrix-vector product. The default (hybrid)
ranking weighs both, each message in its context, by the rule of ``ranking.py`` (fitted
on real conversations; a convex mix of the two scores, tuned on generated chat, had
ranked below words alone there: ``benchmarks/bench_recall.py --dataset locomo``).

Every ranking, fused or not, shows a repeated message once (:func:`distinct`: the same
role and text, "ok" or a question asked again, is one hit, its newest copy), and at equal
scores the newer message ranks first: when the same thing was said again, or two
statements are as close to the question, the newest must win.

An embedder that raises or hangs never fails a search: it falls back to the words
and says so once (a log warning, and the result's ``note``); indexing retries later.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..errors import InvalidInput
from ..records import Hit, Message, SearchResult
from ..stores.base import Store, VectorRow
from ..stores.words import query_terms
from . import ranking
from .deadline import call_with_deadline

log = logging.getLogger("motorhead_magic")

MAX_EMBED_CHARS = 8_000  # longer texts are cut before embedding (models truncate anyway)
INDEX_BATCH = 64  # messages embedded per call
MAX_CACHED_VECTORS = 200_000  # rows kept in memory across sessions (~300 MB at 384 dims)


def embedder_name(embedder: Any) -> str:
    """A stable name for the vectors an embedder makes (stored with each vector)."""
    for attribute in ("name", "model", "model_name"):
        value = getattr(embedder, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(embedder).__name__


class EmbedderFailed(Exception):
    """The embedder raised, hung or answered nonsense (internal: never reaches users)."""


def embed_with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """An embedder call that may not hang a search or the indexer."""
    return call_with_deadline(fn, timeout, "motorhead-embed",
                              lambda why: EmbedderFailed(f"the embedder {why}"))


def as_matrix(vectors: Any, expected: int, dimension: int | None, what: str) -> Any:
    """The embedder's answer as a float32 matrix of unit rows, checked: one vector per
    text, all of one dimension (the index's, when it has one)."""
    import numpy as np

    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbedderFailed(f"{what} returned vectors of different lengths ({exc})") from None
    if matrix.ndim != 2 or matrix.shape[0] != expected:
        raise EmbedderFailed(f"{what} returned {matrix.shape[0] if matrix.ndim else 0} "
                             f"vectors for {expected} texts")
    if dimension is not None and matrix.shape[1] != dimension:
        raise DimensionChanged(dimension, matrix.shape[1])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class DimensionChanged(InvalidInput):
    def __init__(self, indexed: int, now: int) -> None:
        super().__init__(f"the embedder now returns {now}-dimensional vectors, but this "
                         f"session was indexed with {indexed}-dimensional ones: use the "
                         "same embedder, or search by words (mode='keyword')")


class _Vectors:
    """One session's vectors in memory: seqs, and their unit rows as one matrix.

    Rows are appended in place into arrays that double when full, so topping up costs
    the new rows only (copying the whole matrix each time made catching up on a backlog
    quadratic). ``seqs`` and ``matrix`` are views of the filled part: a search holding
    them is never disturbed by a later append.
    """

    def __init__(self, epoch: str) -> None:
        self.epoch = epoch
        self.count = 0
        self._seqs: Any = None
        self._rows: Any = None

    def snapshot(self) -> tuple[Any, Any]:
        """``(seqs, unit rows)`` of the same length, as now; ``(None, None)`` before the
        first vector."""
        count = self.count
        if not count:
            return None, None
        return self._seqs[:count], self._rows[:count]

    @property
    def next_seq(self) -> int:
        return int(self._seqs[self.count - 1]) + 1 if self.count else 0

    def append(self, rows: Sequence[VectorRow]) -> None:
        import numpy as np

        dimension = len(rows[0][2]) // 4 if self._rows is None else self._rows.shape[1]
        for _, _, blob in rows:
            if len(blob) // 4 != dimension:
                raise DimensionChanged(dimension, len(blob) // 4)
        new = np.frombuffer(b"".join(blob for _, _, blob in rows), dtype=np.float32)
        new = new.reshape(len(rows), dimension)
        end = self.count + len(rows)
        if self._rows is None or end > len(self._rows):
            capacity = max(end, 2 * (0 if self._rows is None else len(self._rows)), 256)
            grown_rows = np.empty((capacity, new.shape[1]), dtype=np.float32)
            grown_seqs = np.empty(capacity, dtype=np.int64)
            if self.count:
                grown_rows[:self.count] = self._rows[:self.count]
                grown_seqs[:self.count] = self._seqs[:self.count]
            self._rows, self._seqs = grown_rows, grown_seqs
        self._rows[self.count:end] = new
        self._seqs[self.count:end] = [seq for seq, _, _ in rows]
        self.count = end


class VectorCache:
    """Sessions' vectors in process memory, topped up from the store by seq."""

    def __init__(self, store: Store, max_rows: int = MAX_CACHED_VECTORS) -> None:
        self._store = store
        self._max_rows = max_rows
        self._lock = threading.Lock()  # one top-up at a time: rows are appended once
        self._sessions: OrderedDict[str, _Vectors] = OrderedDict()

    def get(self, session_id: str) -> _Vectors | None:
        """The session's vectors as stored now; None for an unknown session."""
        with self._lock:
            known = self._sessions.get(session_id)
            epoch, rows = self._store.vector_rows(session_id, known.next_seq if known else 0)
            if epoch is not None and known is not None and known.epoch != epoch:
                epoch, rows = self._store.vector_rows(session_id, 0)  # a new life
                known = None
            if epoch is None:
                self._sessions.pop(session_id, None)
                return None
            if known is None:
                known = _Vectors(epoch)
            if rows:
                known.append(rows)
            self._sessions[session_id] = known
            self._sessions.move_to_end(session_id)
            total = sum(v.count for v in self._sessions.values())
            while total > self._max_rows and len(self._sessions) > 1:
                total -= self._sessions.popitem(last=False)[1].count
            return known

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def distinct(hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` (best first) with each message once. Copies of one message (the same role
    and text: an "ok", a question asked again) add nothing to a result, but would fill its
    top k and push the other findings out (chat repeats itself: in bench_recall.py, copies
    of chit-chat took top-5 places from the evidence). A group keeps its best copy's place
    and score and shows its newest copy: the latest time something was said is the one
    that counts, as for a fact said again."""
    where: dict[tuple[str, str], int] = {}
    kept: list[Hit] = []
    for hit in hits:
        key = (hit.message.role, hit.message.content)
        at = where.get(key)
        if at is None:
            where[key] = len(kept)
            kept.append(hit)
        elif hit.message.seq > kept[at].message.seq:
            kept[at] = Hit(hit.message, kept[at].score)
    return kept


class _Ranked(NamedTuple):
    """One ranking of a search, best first, before copies are merged: ``(seq, score)``,
    the messages read already (by seq), whether the ranking has nothing beyond, what
    ranked it and why (a fallback's note)."""

    scored: list[tuple[int, float]]
    known: dict[int, Message]
    complete: bool
    ranking: str
    note: str | None = None

    @classmethod
    def of_words(cls, words: list[tuple[Message, float]], asked: int, ranking: str,
                 note: str | None = None) -> _Ranked:
        """The store's words ranking, of which ``asked`` were asked for."""
        return cls([(m.seq, score) for m, score in words], {m.seq: m for m, _ in words},
                   len(words) < asked, ranking, note)


class Searcher:
    """Search of one memory: words from the store, meaning from the cached vectors."""

    def __init__(self, store: Store, embedder: Any, timeout: float) -> None:
        self.store = store
        self.embedder = embedder
        self.timeout = timeout
        self.vectors = VectorCache(store)
        self.index_error: BaseException | None = None  # why embedding last stopped
        self.note: str | None = None  # the last search's note (why it fell back to words)
        self._said: str | None = None

    def search(self, session_id: str, text: str, k: int, mode: str,
               before: int | None = None) -> SearchResult:
        """The best ``k`` hits, each message once (:func:`distinct`). Messages are read only
        as far as ``k`` distinct hits need; when copies of a message used up a ranking's
        candidates, it is asked for eight times more (by words only once it fell back to
        them: a failing embedder is not asked twice in one search). Each ask ranks the
        whole session again, so few and large asks: a 100k-message session of generated
        chat (13 copies of each line on average) took 5 rounds at x4 from 2k and a p95 of
        85 ms by words."""
        limit, note = k, None
        while True:
            ranked = self._rank(session_id, text, limit, mode, before)
            note = ranked.note or note
            hits = self._read(session_id, ranked, k)
            if len(hits) >= k or ranked.complete:
                return SearchResult(hits, ranked.ranking, note)
            limit *= 8
            mode = ranked.ranking

    def _rank(self, session_id: str, text: str, limit: int, mode: str,
              before: int | None) -> _Ranked:
        """``mode``'s ranking for ``limit`` distinct hits: ``max(4 * limit, 50)``
        candidates (chat repeats itself, and the context rule needs more than ``limit``;
        reading a few more messages costs less than ranking again)."""
        pool = max(4 * limit, 50)
        if mode == "hybrid":
            return self._in_context(session_id, text, pool, before)
        if mode == "keyword":
            return _Ranked.of_words(self.store.search_words(session_id, text, pool, before),
                                    pool, mode)
        try:
            meaning = self._by_meaning(session_id, text, before)
        except EmbedderFailed as exc:
            return self._by_words(session_id, text, pool, before, str(exc))
        if meaning is None:
            return self._by_words(session_id, text, pool, before, self._not_embedded())
        self.note = self._partly_embedded()
        scored = meaning.cosines(pool)
        return _Ranked(scored, {}, len(scored) < pool, mode, self.note)

    def _in_context(self, session_id: str, text: str, pool: int,
                    before: int | None) -> _Ranked:
        """The default ranking (``ranking.py``): words and meaning, each message in its
        context. Without meaning (the embedder failed, or nothing is embedded yet) the
        same rule runs on words alone, and the note says why."""
        words = self.store.search_words(session_id, text, pool, before)
        known = {m.seq: m for m, _ in words}
        try:
            meaning = self._by_meaning(session_id, text, before)
            note = self._not_embedded() if meaning is None else self._partly_embedded()
        except EmbedderFailed as exc:
            meaning, note = None, str(exc)
        if meaning is None:
            note = f"searched by words only: {note}"
            self._say_once(note)
        self.note = note
        weights = ranking.WORDS_ONLY if meaning is None else ranking.WITH_MEANING
        scored = ranking.candidates({m.seq: score for m, score in words}, meaning, weights,
                                    pool, before)
        missing = [seq for seq, _ in scored if seq not in known]
        known.update((m.seq, m) for m in self.store.messages_at(session_id, missing))
        complete = len(words) < pool and (meaning is None or len(meaning.seqs) <= pool)
        scored = ranking.with_priors(scored, known, frozenset(query_terms(text)), weights)
        return _Ranked(scored, known, complete, "hybrid", note)

    def _not_embedded(self) -> str:
        why = "no message of this session is embedded yet"
        return why if self.index_error is None else f"{why} ({self.index_error})"

    def _partly_embedded(self) -> str | None:
        """The note of a search ranked by meaning while indexing is stuck, said once."""
        if self.index_error is None:
            return None
        note = f"some messages are not embedded yet (found by words only): {self.index_error}"
        self._say_once(note)
        return note

    def _read(self, session_id: str, ranked: _Ranked, k: int) -> list[Hit]:
        """The first ``k`` distinct hits of a ranking, reading the messages it has not read
        yet ``k`` at first, then twice as many each time copies were found."""
        hits: list[Hit] = []
        start, size = 0, k
        while len(hits) < k and start < len(ranked.scored):
            chunk = ranked.scored[start:start + size]
            missing = [seq for seq, _ in chunk if seq not in ranked.known]
            ranked.known.update((m.seq, m) for m in self.store.messages_at(session_id, missing))
            hits = distinct([*hits, *(Hit(ranked.known[seq], score) for seq, score in chunk
                                      if seq in ranked.known)])  # not deleted meanwhile
            start, size = start + size, 2 * size
        return hits[:k]

    def _by_words(self, session_id: str, text: str, pool: int, before: int | None,
                  why: str) -> _Ranked:
        """Semantic search's fallback: the words' ranking, and why (said once in the log)."""
        words = self.store.search_words(session_id, text, pool, before)
        self.note = f"searched by words only: {why}"
        self._say_once(self.note)
        return _Ranked.of_words(words, pool, "keyword", self.note)

    def _by_meaning(self, session_id: str, text: str,
                    before: int | None) -> ranking.Meaning | None:
        """The query's cosine with every vector of the session (below ``before``); None
        when the session has messages but no vector at all."""
        import numpy as np

        vectors = self.vectors.get(session_id)
        empty = ranking.Meaning(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        if vectors is None:
            return empty
        seqs, matrix = vectors.snapshot()
        if matrix is None:
            return None if self.store.history(session_id, 0, 1) else empty
        if not text.strip():
            return empty
        query = embed_with_deadline(lambda: self.embedder.embed_query(text[:MAX_EMBED_CHARS]),
                                    self.timeout)
        query = as_matrix([query], 1, matrix.shape[1], "the embedder")[0]
        scores = matrix @ query
        if before is not None:
            keep = seqs < before
            scores, seqs = scores[keep], seqs[keep]
        return ranking.Meaning(seqs, scores)

    def _say_once(self, note: str) -> None:
        """Log a note once, until its text changes."""
        if note != self._said:
            self._said = note
            log.warning("motorhead: %s", note)


class Indexer:
    """Embeds new messages in the background, one session at a time per worker."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.store = searcher.store
        self.embedder = searcher.embedder
        self.vectors = searcher.vectors
        self.timeout = searcher.timeout
        self.name = embedder_name(self.embedder)
        self._logged: str | None = None

    @property
    def last_error(self) -> BaseException | None:
        return self.searcher.index_error

    def index(self, session_id: str) -> int:
        """Embed every message of the session that has no vector yet; returns how many.
        Raises what stopped it (the caller retries later)."""
        done = 0
        while True:
            known = self.vectors.get(session_id)
            if known is None:
                return done
            messages = self.store.history(session_id, known.next_seq, INDEX_BATCH)
            if not messages:
                self.searcher.index_error = self._logged = None
                return done
            rows = self._embed(messages, known)
            if not self.store.add_vectors(session_id, known.epoch, rows):
                return done  # deleted meanwhile
            done += len(rows)

    def _embed(self, messages: list[Message], known: _Vectors) -> list[VectorRow]:
        texts = [m.content[:MAX_EMBED_CHARS] for m in messages]
        raw = embed_with_deadline(lambda: self.embedder.embed_documents(texts), self.timeout)
        _, matrix = known.snapshot()
        dimension = None if matrix is None else matrix.shape[1]
        matrix = as_matrix(raw, len(texts), dimension, "the embedder")
        return [(m.seq, self.name, row.tobytes()) for m, row in zip(messages, matrix)]

    def failed(self, session_id: str, exc: BaseException) -> None:
        """Remember and log (once per distinct reason) why indexing stopped."""
        self.searcher.index_error = exc
        if str(exc) != self._logged:
            self._logged = str(exc)
            log.warning("motorhead: embedding the messages of %r failed (retrying later; "
                        "search by words still finds them): %s", session_id, exc)
