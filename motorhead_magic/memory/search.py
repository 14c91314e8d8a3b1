"""Long-term memory over a local store: search by words, by meaning, or both.

Words come from the store's BM25 index (``stores/words.py``), always there. Meaning
needs an embedder (a LangChain ``Embeddings`` or ``"local"``): the :class:`Indexer`
embeds new messages on a background thread (never on the write path) and stores
the vectors beside the messages; :class:`Searcher` keeps each searched session's
vectors in process memory as one normalized matrix, topped up from the store by
seq (the log is append-only), so a search is a matrix-vector product. Both
rankings are fused by reciprocal rank fusion (RRF), which needs no score
calibration between BM25 and cosine.

An embedder that raises or hangs never fails a search: it falls back to the words
and says so once (a log warning, and :attr:`Searcher.note`); indexing retries later.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..records import Hit, Message, SearchResult
from ..stores.base import Store, VectorRow

log = logging.getLogger("motorhead_magic")

RRF_K = 60  # the usual constant of reciprocal rank fusion (Cormack et al., 2009)
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


def call_with_deadline(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """``fn()`` on a daemon thread; :class:`EmbedderFailed` if it raises or outlives
    ``timeout`` (a hung embedder is abandoned, never waited for)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            error.append(exc)

    thread = threading.Thread(target=run, name="motorhead-embed", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise EmbedderFailed(f"{what} did not answer within {timeout:g} s")
    if error:
        raise EmbedderFailed(f"{what} failed: {type(error[0]).__name__}: {error[0]}")
    return result[0]


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


@dataclass
class _Vectors:
    """One session's vectors in memory: seqs, and their unit rows as one matrix."""

    epoch: str
    seqs: Any  # numpy int64 array, ascending
    matrix: Any  # numpy float32 (n, d)

    @property
    def next_seq(self) -> int:
        return int(self.seqs[-1]) + 1 if len(self.seqs) else 0


class VectorCache:
    """Sessions' vectors in process memory, topped up from the store by seq."""

    def __init__(self, store: Store, max_rows: int = MAX_CACHED_VECTORS) -> None:
        self._store = store
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Vectors] = OrderedDict()

    def get(self, session_id: str) -> _Vectors | None:
        """The session's vectors as stored now; None for an unknown session."""
        import numpy as np

        with self._lock:
            known = self._sessions.get(session_id)
        epoch, rows = self._store.vector_rows(session_id, known.next_seq if known else 0)
        if epoch is None:
            self.forget(session_id)
            return None
        if known is None or known.epoch != epoch:
            if known is not None:  # deleted and written again: start over
                epoch, rows = self._store.vector_rows(session_id, 0)
                if epoch is None:
                    self.forget(session_id)
                    return None
            known = _Vectors(epoch, np.zeros(0, dtype=np.int64), None)
        if rows:
            known = self._extend(known, rows)
        with self._lock:
            self._sessions[session_id] = known
            self._sessions.move_to_end(session_id)
            total = sum(len(v.seqs) for v in self._sessions.values())
            while total > self._max_rows and len(self._sessions) > 1:
                total -= len(self._sessions.popitem(last=False)[1].seqs)
        return known

    @staticmethod
    def _extend(known: _Vectors, rows: Sequence[VectorRow]) -> _Vectors:
        import numpy as np

        dims = {len(blob) // 4 for _, _, blob in rows}
        if known.matrix is not None:
            dims.add(known.matrix.shape[1])
        if len(dims) > 1:
            low, high = sorted(dims)[:2]
            raise DimensionChanged(low, high)
        new = np.frombuffer(b"".join(blob for _, _, blob in rows), dtype=np.float32)
        new = new.reshape(len(rows), dims.pop())
        seqs = np.array([seq for seq, _, _ in rows], dtype=np.int64)
        if known.matrix is None:
            return _Vectors(known.epoch, seqs, new)
        return _Vectors(known.epoch, np.concatenate([known.seqs, seqs]),
                        np.vstack([known.matrix, new]))

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def fuse(rankings: Sequence[Sequence[int]], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of seqs: ``(seq, score)``, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, seq in enumerate(ranking):
            scores[seq] = scores.get(seq, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]


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
        pool = max(4 * k, 50)  # candidates per ranking before fusion
        words = (self.store.search_words(session_id, text, pool if mode == "hybrid" else k,
                                         before)
                 if mode in ("keyword", "hybrid") else [])
        if mode == "keyword":
            return SearchResult([Hit(message, score) for message, score in words], mode)
        try:
            meaning = self._by_meaning(session_id, text, pool, before)
        except EmbedderFailed as exc:
            return self._by_words(session_id, text, k, before, words, str(exc))
        if meaning is None:
            why = "no message of this session is embedded yet"
            if self.index_error is not None:
                why += f" ({self.index_error})"
            return self._by_words(session_id, text, k, before, words, why)
        note = None
        if self.index_error is not None:  # ranked by meaning, but not everything has a vector
            note = f"some messages are not embedded yet (found by words only): {self.index_error}"
            self._say_once(note)
        self.note = note
        if mode == "semantic":
            ranked = meaning[:k]
        else:
            ranked = fuse([[m.seq for m, _ in words], [seq for seq, _ in meaning]], k)
        known = {m.seq: m for m, _ in words}
        missing = [seq for seq, _ in ranked if seq not in known]
        known.update((m.seq, m) for m in self.store.messages_at(session_id, missing))
        return SearchResult([Hit(known[seq], score) for seq, score in ranked if seq in known],
                            mode, note)

    def _by_words(self, session_id: str, text: str, k: int, before: int | None,
                  words: list[tuple[Message, float]], why: str) -> SearchResult:
        """The fallback: the words' ranking, and why (said once in the log)."""
        if not words:
            words = self.store.search_words(session_id, text, k, before)
        self.note = f"searched by words only: {why}"
        self._say_once(self.note)
        return SearchResult([Hit(m, score) for m, score in words[:k]], "keyword", self.note)

    def _by_meaning(self, session_id: str, text: str, limit: int,
                    before: int | None) -> list[tuple[int, float]] | None:
        """``(seq, cosine)`` best first; None when the session has no vector at all."""
        import numpy as np

        vectors = self.vectors.get(session_id)
        if vectors is None:
            return []
        if vectors.matrix is None:
            return None if self.store.history(session_id, 0, 1) else []
        if not text.strip():
            return []
        query = call_with_deadline(lambda: self.embedder.embed_query(text[:MAX_EMBED_CHARS]),
                                   self.timeout, "the embedder")
        query = as_matrix([query], 1, vectors.matrix.shape[1], "the embedder")[0]
        scores = vectors.matrix @ query
        seqs = vectors.seqs
        if before is not None:
            keep = seqs < before
            scores, seqs = scores[keep], seqs[keep]
        if len(scores) > limit:
            top = np.argpartition(-scores, limit - 1)[:limit]
        else:
            top = np.arange(len(scores))
        top = top[np.lexsort((seqs[top], -scores[top]))]
        return [(int(seqs[i]), float(scores[i])) for i in top]

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
        raw = call_with_deadline(lambda: self.embedder.embed_documents(texts), self.timeout,
                                 "the embedder")
        dimension = None if known.matrix is None else known.matrix.shape[1]
        matrix = as_matrix(raw, len(texts), dimension, "the embedder")
        return [(m.seq, self.name, row.tobytes()) for m, row in zip(messages, matrix)]

    def failed(self, session_id: str, exc: BaseException) -> None:
        """Remember and log (once per distinct reason) why indexing stopped."""
        self.searcher.index_error = exc
        if str(exc) != self._logged:
            self._logged = str(exc)
            log.warning("motorhead: embedding the messages of %r failed (retrying later; "
                        "search by words still finds them): %s", session_id, exc)
