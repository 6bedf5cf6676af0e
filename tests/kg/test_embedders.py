"""Text embedders: the protocol on a deterministic fake, the LangChain adapter, real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from realm.errors import ConfigError
from realm.kg.embedders import (
    HashingEmbedder,
    LangChainEmbedder,
    TextEmbedder,
    get_embedder,
)


def test_hashing_embedder_follows_the_protocol() -> None:
    emb = HashingEmbedder(dim=64)
    assert isinstance(emb, TextEmbedder)
    out = emb.embed(["high palate", "short stature", ""])
    assert out.shape == (3, 64) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_duplicates_and_batching_do_not_change_vectors() -> None:
    emb = HashingEmbedder(dim=64)
    texts = ["b longer string", "a", "b longer string", "cc"]
    one_batch = emb.embed(texts, batch_size=64)
    tiny_batches = emb.embed(texts, batch_size=1)
    np.testing.assert_array_equal(one_batch, tiny_batches)
    np.testing.assert_array_equal(one_batch[0], one_batch[2])
    np.testing.assert_array_equal(one_batch[1], emb.embed(["a"])[0])
    assert not np.allclose(one_batch[0], one_batch[3])


def test_empty_input_and_bad_batch_size() -> None:
    emb = HashingEmbedder(dim=32)
    assert emb.embed([]).shape == (0, 32)
    with pytest.raises(ConfigError, match="batch_size"):
        emb.embed(["x"], batch_size=0)


def test_unknown_embedder_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown embedder 'nope'"):
        get_embedder("nope")


def test_langchain_adapter_normalizes_and_checks_shape() -> None:
    adapter = LangChainEmbedder(DeterministicFakeEmbedding(size=12), model_id="fake-12")
    assert adapter.dim == 12
    out = adapter.embed(["a", "b", "a"])
    assert out.shape == (3, 12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    wrong = LangChainEmbedder(DeterministicFakeEmbedding(size=12), model_id="fake", dim=8)
    with pytest.raises(ConfigError, match="expected"):
        wrong.embed(["a"])
    with pytest.raises(ConfigError, match="not a LangChain Embeddings"):
        LangChainEmbedder(object(), model_id="x")


@pytest.mark.slow
def test_minilm_backends_agree_and_rank_synonyms_first() -> None:
    texts = ["High palate", "high arched palate", "Short stature", "Seizure"]
    onnx = get_embedder("onnx").embed(texts)
    torch_ = get_embedder("minilm").embed(texts)
    assert onnx.shape == torch_.shape == (4, 384)
    assert float((onnx * torch_).sum(axis=1).min()) > 0.99  # int8 vs float32: same model
    sims = onnx[1] @ onnx.T
    assert int(np.argmax(np.delete(sims, 1))) == 0  # "high arched palate" nearest "High palate"


class _UncasedCounter(HashingEmbedder):
    uncased = True

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return super()._embed_batch([t.lower() for t in texts])


def test_an_uncased_model_embeds_case_variants_once() -> None:
    emb = _UncasedCounter()
    vectors = emb.embed(["Seizure", "seizure", "SEIZURE", "Short stature"])
    assert len(emb.seen) == 2
    assert np.allclose(vectors[0], vectors[1]) and np.allclose(vectors[0], vectors[2])
    assert HashingEmbedder(dim=32).uncased is False  # a cased model keeps every variant


@pytest.mark.slow
def test_onnx_concurrent_batches_match_one_thread() -> None:
    texts = [f"finding number {i} of the {'left ' * (i % 7)}hand" for i in range(300)]
    one = get_embedder("onnx", threads=1).embed(texts, batch_size=16)
    two = get_embedder("onnx", threads=2).embed(texts, batch_size=16)
    assert np.allclose(one, two, atol=1e-6)  # same rows, same order
    with pytest.raises(ConfigError, match="threads"):
        get_embedder("onnx", threads=0)
