"""Index build: contents, resume after an interruption, incremental updates, stale refusal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from realm.errors import ConfigError, KGError
from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import (
    ChromaIndex,
    NumpyIndex,
    META_TYPES,
    VectorIndex,
    build_index,
    check_index,
    index_entries,
    indexed_types,
)
from realm.records import Node


def tiny_kg(extra: Sequence[Node] = ()) -> KnowledgeGraph:
    nodes = [
        Node(
            "HP:1",
            "High palate",
            "phenotype",
            ("High arched palate", "Elevated palate"),
            source="HPO",
        ),
        Node("HP:2", "Short stature", "phenotype", ("Decreased body height",), source="HPO"),
        Node("HP:3", "Seizure", "phenotype", ("Epileptic seizure", "seizure"), source="HPO"),
        Node("D:1", "Epilepsy", "disease", ("Seizure disorder",), source="MONDO"),
        Node("D:2", "Heart failure", "disease", ("Cardiac failure",), source="MONDO"),
        *extra,
    ]
    return KnowledgeGraph.from_nodes_edges(
        nodes, [("D:1", "HP:3", "has_phenotype", "x")], name="tiny"
    )


class CountingEmbedder(HashingEmbedder):
    """Counts embedded strings; raises after ``fail_after`` calls to simulate a killed build."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(dim=64)
        self.calls, self.strings, self.fail_after = 0, 0, fail_after

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.strings += len(texts)
        return super().embed(texts, batch_size)


@pytest.fixture(params=["numpy", "chroma"])
def make_index(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], VectorIndex]:
    if request.param == "numpy":
        shared = NumpyIndex()
        return lambda: shared
    return lambda: ChromaIndex("tiny-test", path=tmp_path / "chroma")


def test_build_indexes_names_and_synonyms(make_index: Callable[[], VectorIndex]) -> None:
    kg, emb, index = tiny_kg(), CountingEmbedder(), make_index()
    report = build_index(kg, emb, index, batch_size=3, progress=False)
    # "seizure" repeats "Seizure" case-insensitively and is indexed once
    assert report.entries == index.count() == 11 == emb.strings
    check_index(index, kg, emb)
    hits = index.query(emb.embed(["high arched palate"]), k=3)[0]
    assert hits.metadatas[0] == {
        "node_id": "HP:1",
        "text": "High arched palate",
        "type": "phenotype",
        "source": "HPO",
        "is_synonym": True,
    }
    assert hits.scores[0] == pytest.approx(1.0, abs=1e-4)
    only_disease = index.query(emb.embed(["Seizure"]), k=20, where={"type": "disease"})[0]
    assert only_disease.ids and {m["type"] for m in only_disease.metadatas} == {"disease"}


def test_interrupted_build_is_refused_then_resumed(make_index: Callable[[], VectorIndex]) -> None:
    kg, index = tiny_kg(), make_index()
    with pytest.raises(KeyboardInterrupt):
        build_index(kg, CountingEmbedder(fail_after=2), index, batch_size=3, progress=False)
    assert index.count() == 6  # two committed batches survive
    with pytest.raises(KGError, match="incomplete"):
        check_index(index, kg, HashingEmbedder(dim=64))
    resumed = CountingEmbedder()
    report = build_index(kg, resumed, make_index(), batch_size=3, progress=False)
    assert (report.skipped, report.added, resumed.strings) == (6, 5, 5)
    check_index(make_index(), kg, resumed)


def test_update_is_incremental_and_stale_index_refused(
    make_index: Callable[[], VectorIndex],
) -> None:
    old, new_node = tiny_kg(), Node("HP:4", "Ptosis", "phenotype", ("Drooping eyelid",))
    build_index(old, CountingEmbedder(), make_index(), progress=False)
    new = tiny_kg(extra=[new_node])
    with pytest.raises(KGError, match="stale.*realm kg index"):
        check_index(make_index(), new, HashingEmbedder(dim=64))
    emb = CountingEmbedder()
    report = build_index(new, emb, make_index(), progress=False)
    assert (report.added, emb.strings, report.deleted) == (2, 2, 0)
    smaller = KnowledgeGraph.from_nodes_edges(
        [n for n in new.nodes() if n.id != "HP:2"], [], name="tiny"
    )
    report = build_index(smaller, CountingEmbedder(), make_index(), progress=False)
    assert (report.added, report.deleted) == (0, 2)
    assert make_index().count() == len(index_entries(smaller, "hashing-3gram-64"))


def test_a_scoped_build_indexes_its_types_and_a_wider_one_extends_it(
    make_index: Callable[[], VectorIndex],
) -> None:
    kg, emb = tiny_kg(), CountingEmbedder()
    report = build_index(kg, emb, make_index(), types=["disease"], progress=False)
    assert (report.added, emb.strings, report.extra["types"]) == (4, 4, ["disease"])
    assert {m["type"] for m in make_index().get(sorted(make_index().ids()))[1]} == {"disease"}
    assert check_index(make_index(), kg, emb, ["disease"]) == {"disease"}
    assert check_index(make_index(), kg, emb) == {"disease"}  # no types asked: its own scope
    with pytest.raises(KGError, match="not phenotype.*--types phenotype"):
        check_index(make_index(), kg, emb, ["phenotype", "disease"])
    wider = CountingEmbedder()
    report = build_index(kg, wider, make_index(), types=["phenotype"], progress=False)
    # only the phenotype strings are embedded; the disease entries stay (one collection, no rebuild)
    assert (report.added, report.skipped, report.deleted, wider.strings) == (7, 4, 0, 7)
    assert report.extra["types"] == ["disease", "phenotype"] and make_index().count() == 11
    check_index(make_index(), kg, emb, ["phenotype", "disease"])


def test_an_unknown_type_is_refused_before_anything_is_indexed() -> None:
    index = NumpyIndex()
    with pytest.raises(ConfigError, match="no node type.*phenotyp.*its types: disease, phenotype"):
        build_index(tiny_kg(), CountingEmbedder(), index, types=["phenotyp"], progress=False)
    assert index.count() == 0 and index.get_meta() == {}


def test_an_index_without_a_recorded_scope_covers_every_type() -> None:
    kg, emb, index = tiny_kg(), CountingEmbedder(), NumpyIndex()
    build_index(kg, emb, index, progress=False)
    index.set_meta({k: v for k, v in index.get_meta().items() if k != META_TYPES})
    assert indexed_types(index, kg) == {"disease", "phenotype"}
    again = CountingEmbedder()
    build_index(kg, again, index, types=["disease"], progress=False)
    assert again.strings == 0 and index.count() == 11


def test_another_embedder_is_refused(make_index: Callable[[], VectorIndex]) -> None:
    kg = tiny_kg()
    build_index(kg, HashingEmbedder(dim=64), make_index(), progress=False)
    with pytest.raises(KGError, match="holds vectors of"):
        check_index(make_index(), kg, HashingEmbedder(dim=32))
    with pytest.raises(KGError, match="separate index per embedder"):
        build_index(kg, HashingEmbedder(dim=32), make_index(), progress=False)


def test_missing_index_is_refused() -> None:
    with pytest.raises(KGError, match="no index"):
        check_index(NumpyIndex(), tiny_kg(), HashingEmbedder())


def test_a_string_shared_by_nodes_is_embedded_once() -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [
            Node("ICD9CM:428.0", "Heart failure", "disease"),
            Node("ICD10CM:I50.9", "Heart failure", "disease"),
        ],
        [],
        name="shared",
    )
    emb, index = CountingEmbedder(), NumpyIndex()
    report = build_index(kg, emb, index, progress=False)
    assert (report.entries, report.added, emb.strings) == (2, 2, 1)
    hits = index.query(emb.embed(["Heart failure"]), k=2)[0]
    assert sorted(m["node_id"] for m in hits.metadatas) == ["ICD10CM:I50.9", "ICD9CM:428.0"]


def test_chroma_answers_a_large_query_batch(tmp_path: Path) -> None:
    # 1,000 queries x 40 hits once overflowed SQLite's variable limit inside Chroma.
    rng = np.random.default_rng(0)
    index = ChromaIndex("batch-test", path=tmp_path / "chroma")
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    index.add([f"e{i}" for i in range(50)], vectors, [{"type": "t", "i": i} for i in range(50)])
    hits = index.query(np.repeat(vectors[:1], 1000, axis=0), k=40, where={"type": "t"})
    assert len(hits) == 1000 and all(len(h.ids) == 40 for h in hits)
    assert hits[-1].ids[0] == "e0"


class FailingIndex(NumpyIndex):
    """An index whose second insertion fails, as a full disk or a dropped server would."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = 0

    def add(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict]) -> None:
        self.adds += 1
        if self.adds == 2:
            raise OSError("disk full")
        super().add(ids, vectors, metadatas)


def test_a_failed_insertion_stops_the_build_and_leaves_it_refused() -> None:
    kg, index = tiny_kg(), FailingIndex()
    with pytest.raises(OSError, match="disk full"):
        build_index(kg, HashingEmbedder(dim=64), index, batch_size=3, progress=False)
    assert index.count() == 3  # the first chunk only; nothing after the failure was written
    with pytest.raises(KGError, match="incomplete"):
        check_index(index, kg, HashingEmbedder(dim=64))


def test_a_stopped_build_ends_after_its_chunk_and_resumes(make_index: Callable[[], VectorIndex]) -> None:
    import threading

    from realm.errors import Interrupted

    kg, index, stop = tiny_kg(), make_index(), threading.Event()

    class StopAfterTwo(CountingEmbedder):
        def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
            if self.calls == 1:
                stop.set()  # another thread asks the build to stop while chunk 2 is embedded
            return super().embed(texts, batch_size)

    with pytest.raises(Interrupted, match="resumes"):
        build_index(kg, StopAfterTwo(), index, batch_size=3, progress=False, stop=stop)
    assert index.count() == 6  # the chunk being embedded was still committed
    with pytest.raises(KGError, match="incomplete"):
        check_index(index, kg, HashingEmbedder(dim=64))
    assert build_index(kg, CountingEmbedder(), make_index(), batch_size=3, progress=False).added == 5
