"""Serialized-record embeddings: caching, embedder adapters, the probe and the DataModule modality."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realm.data.cohort import Cohort
from realm.errors import ConfigError, DataError
from realm.kg.embedders import HashingEmbedder
from realm.features.record import RecordEncoder, RecordVectorProvider, as_embedder
from realm.features.serialize import serialize_stay


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every text it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.seen: list[str] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return super()._embed_batch(texts)


class FakeLangChainEmbeddings:
    """The one method LangChain's ``Embeddings`` interface requires here."""

    model = "fake-embeddings"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(len(t)), float(t.count("high")), 1.0] for t in texts]


def _cohort() -> Cohort:
    stays = pd.DataFrame({"stay_id": [1, 2, 3], "subject_id": [1, 2, 3], "source": "t",
                          "age": [50.0, 80.0, 65.0], "sex": ["F", "M", "F"], "icu_type": "MICU",
                          "split": ["train", "train", "test"]})
    events = pd.DataFrame({"stay_id": [1, 2, 2, 3], "hours": [1.0, 2.0, 3.0, 4.0],
                           "variable": ["lactate", "lactate", "heart_rate", "lactate"],
                           "value": [1.0, 6.0, 130.0, 3.0]})
    return Cohort(stays=stays, events=events, notes=pd.DataFrame({"note_id": [], "stay_id": [], "hours": [],
                                                                  "category": [], "text": []}),
                  labels=pd.DataFrame({"stay_id": [1, 2, 3], "mortality": [0, 1, 1]}),
                  meta={"window_hours": 48.0})


def test_vectors_are_cached_per_text_embedder_and_instruction(tmp_path: Path) -> None:
    cohort = _cohort()
    embedder = CountingEmbedder()
    encoder = RecordEncoder(embedder, instruction="Predict mortality", cache_dir=str(tmp_path))
    vectors = encoder.encode_cohort(cohort)
    assert vectors.shape == (3, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert "Instruct: Predict mortality\nQuery: " + serialize_stay(cohort, 1, fmt="list") in embedder.seen
    again = RecordEncoder(embedder, instruction="Predict mortality", cache_dir=str(tmp_path))
    assert np.array_equal(again.encode_cohort(cohort, [3, 1]), vectors[[2, 0]])
    assert len(embedder.seen) == 3  # all three read back from the cache
    RecordEncoder(embedder, instruction="Predict readmission", cache_dir=str(tmp_path)).encode_cohort(cohort, [1])
    RecordEncoder(embedder, instruction="Predict mortality", fmt="markdown", cache_dir=str(tmp_path)).encode_cohort(cohort, [1])
    assert len(embedder.seen) == 5  # a new instruction or a new text is a new vector


def test_langchain_embeddings_and_names_become_text_embedders(tmp_path: Path) -> None:
    encoder = RecordEncoder(FakeLangChainEmbeddings(), instruction="", cache_dir=str(tmp_path))
    assert encoder.embedder.model_id == "fake-embeddings" and encoder.embedder.dim == 3
    vectors = encoder.encode_cohort(_cohort())
    assert vectors.shape == (3, 3) and vectors[1, 1] > 0  # stay 2 has a "high" lactate
    assert as_embedder("hashing").model_id.startswith("hashing")
    with pytest.raises(ConfigError, match="LangChain"):
        as_embedder(object())
    with pytest.raises(ConfigError, match="format"):
        RecordEncoder("hashing", fmt="json")  # type: ignore[arg-type]


def test_provider_gives_each_batch_its_vectors(tmp_path: Path) -> None:
    _cohort().save(tmp_path / "cohort")
    provider = RecordVectorProvider(embedder="hashing", cache_dir=str(tmp_path / "cache"))
    provider.setup(tmp_path / "cohort", np.array([1, 2, 3]))
    batch = provider.get([3, 1])
    reference = RecordEncoder("hashing", cache_dir=str(tmp_path / "other"), token_budget=256)
    expected = reference.encode_cohort(Cohort.load(tmp_path / "cohort"), [3, 1])
    assert batch["vector"].shape == (2, 256)
    assert np.allclose(batch["vector"].numpy(), expected)
    with pytest.raises(DataError, match="stay 9"):
        provider.get([9])
