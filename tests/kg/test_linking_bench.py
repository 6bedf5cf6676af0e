"""The linking benchmark's pieces: gold reading, the held-out split, accuracy, speed numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.bench.linking import GoldMention, _speed, accuracy_at, read_gold, split_gold
from realm.errors import DataError
from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

TSV = (
    "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"
    "a\t1\tMOUTH: High arched palate\tHP:0000218\tNA\t7-25\n"
    "b\t1\tEYES: normal lids, up-slant\tHP:0000582\tNA\t0-4,19-27\n"
    "c\t1\tHEAD: normocephalic\tNA\tNA\tNA\n"
    "d\t1\tEARS: low set\tHP:0000369\tNA\t6-13\n"
    "e\t1\tOLD: old id\tHP:9999999\tNA\t5-11\n"
)


@pytest.fixture
def kg() -> KnowledgeGraph:
    kg = KnowledgeGraph.from_nodes_edges(
        [
            Node("HP:0000218", "High palate", "phenotype", ("High arched palate",)),
            Node("HP:0000582", "Upslanted palpebral fissure", "phenotype"),
            Node("HP:0000369", "Low-set ears", "phenotype"),
        ],
        [],
        name="bench-kg",
    )
    kg.add_alias("HP:0000368", "HP:0000369")
    return kg


def test_read_gold_joins_spans_skips_na_and_resolves_alt_ids(
    tmp_path: Path, kg: KnowledgeGraph
) -> None:
    path = tmp_path / "bc8.tsv"
    path.write_text(TSV.replace("HP:0000369", "HP:0000368"), encoding="utf-8")
    gold, unresolved = read_gold(path, kg)
    assert gold == [
        GoldMention("a", "High arched palate", "HP:0000218"),
        GoldMention("b", "EYES up-slant", "HP:0000582"),
        GoldMention("d", "low set", "HP:0000369"),
    ]
    assert unresolved == 1
    with pytest.raises(DataError, match="no such file"):
        read_gold(tmp_path / "missing.tsv", kg)


def test_split_is_by_observation_and_seeded() -> None:
    gold = [GoldMention(str(i // 2), f"t{i}", "X") for i in range(40)]
    tune, held = split_gold(gold, 0.5, seed=0)
    assert not {g.string_id for g in tune} & {g.string_id for g in held}
    assert len({g.string_id for g in held}) == 10
    assert split_gold(gold, 0.5, seed=0) == (tune, held)
    assert split_gold(gold, 0.5, seed=1) != (tune, held)


def test_accuracy_at_k() -> None:
    gold = [GoldMention("a", "x", "A"), GoldMention("b", "y", "B")]
    assert accuracy_at(gold, [["A", "B"], ["A", "C"]], 1) == 0.5
    assert accuracy_at(gold, [["C", "A"], ["A", "B"]], 2) == 1.0
    assert accuracy_at(gold, [["C", "A"], ["A", "B"]], 1) == 0.0


def test_speed_numbers_on_a_tiny_kg(tmp_path: Path, kg: KnowledgeGraph) -> None:
    numbers, chroma = _speed(kg, HashingEmbedder(dim=32), ["high palate", "low ears"], tmp_path)
    assert numbers["entries"] == chroma.count() == 4
    assert numbers["recall_at_10_vs_exact"] == 1.0  # 4 entries: HNSW must find them all
    assert 0 < numbers["query_latency_ms_p50"] <= numbers["query_latency_ms_p95"]


def test_command_scores_the_held_out_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``realm bench linking`` end to end: the YAML's held-out share, the command's seed."""
    import json

    import yaml

    from realm.cli import main
    from realm.config import CONFIGS
    from tests.kg_fixtures import write_csv_kg

    nodes = ("id,name,type,synonyms,definition,source,xrefs\n"
             "HP:0000218,High palate,phenotype,High arched palate,,tiny,\n"
             "HP:0000582,Upslanted palpebral fissure,phenotype,,,tiny,\n"
             "HP:0000369,Low-set ears,phenotype,,,tiny,\n")
    spec = write_csv_kg(tmp_path / "kg", nodes, "source,target,relation,source_vocab\n")
    data = tmp_path / "bc8.tsv"
    data.write_text(TSV, encoding="utf-8")
    out = tmp_path / "linking.json"
    argv = ["bench", "linking", "--data", str(data), "--out", str(out), "--kg", str(spec),
            "--embedder", "hashing", "--seed", "3", "--fresh-build"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    shipped = yaml.safe_load((CONFIGS / "bench" / "linking.yaml").read_text())
    assert result["data"]["seed"] == 3 and result["data"]["holdout_frac"] == shipped["holdout_frac"]
    assert result["data"]["mentions"] == 3 and result["data"]["unresolved_ids"] == 1
    assert set(result["held_out"]) == {"exact_dictionary", "full_linker"}
    assert "acc@1" in capsys.readouterr().out
