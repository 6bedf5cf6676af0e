"""The mentions table keeps a linked mention's concept and codes; tables written before
concepts existed still read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from realm.extract.mentions_table import conform_mentions, mentions_frame
from realm.records import Mention


def test_concept_and_codes_round_trip_through_parquet(tmp_path: Path) -> None:
    linked = Mention("wilson disease", ((0, 14),), "disease", stay_id=1, note_id="n1", node_id="OMIM:277900",
                     link_score=0.9, concept_id="MESH:D006527", codes=("MESH:D006527", "OMIM:277900"))
    unlinked = Mention("odd", ((20, 23),), "disease", stay_id=1, note_id="n1")
    path = tmp_path / "mentions.parquet"
    mentions_frame([linked, unlinked], {"n1": 2.0}).to_parquet(path)
    back = conform_mentions(pd.read_parquet(path))
    assert back.loc[0, "concept_id"] == "MESH:D006527"
    assert json.loads(back.loc[0, "codes"]) == ["MESH:D006527", "OMIM:277900"]
    assert back.loc[1, ["concept_id", "codes"]].isna().all()


def test_a_table_without_concept_columns_still_reads(tmp_path: Path) -> None:
    m = Mention("fever", ((0, 5),), "phenotype", stay_id=3, note_id="n", node_id="HP:0001945")
    old = mentions_frame([m]).drop(columns=["concept_id", "codes"])
    path = tmp_path / "old.parquet"
    old.to_parquet(path)
    back = conform_mentions(pd.read_parquet(path))
    assert back.loc[0, "node_id"] == "HP:0001945"
    assert pd.isna(back.loc[0, "concept_id"]) and pd.isna(back.loc[0, "codes"])


def test_entity_sets_key_on_the_concept_where_the_linker_gave_one() -> None:
    from realm.extract.mentions_table import entity_sets

    rows = [Mention("ascites", ((0, 7),), "disease", stay_id=1, note_id="n", node_id="ICD10CM:R18",
                    concept_id="MESH:D001201", codes=("MESH:D001201", "ICD10CM:R18")),
            Mention("ascites", ((9, 16),), "disease", stay_id=1, note_id="n", node_id="MESH:D001201",
                    concept_id="MESH:D001201", codes=("MESH:D001201", "ICD10CM:R18")),
            Mention("fever", ((20, 25),), "phenotype", stay_id=1, note_id="n", node_id="HP:0001945")]
    sets = entity_sets(mentions_frame(rows, {"n": 1.0}))
    assert dict(zip(sets[1].node_ids, sets[1].counts)) == {"MESH:D001201": 2, "HP:0001945": 1}
