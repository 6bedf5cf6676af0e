"""What the synthetic-bench tests share: a three-node KG in place of the default one, tiny settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def use_tiny_kg(monkeypatch: pytest.MonkeyPatch) -> KnowledgeGraph:
    """Make every KG load in the bench return a tiny graph (sepsis, tachycardia, fever)."""
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("ICD10CM:A41.9", "Sepsis", "disease", synonyms=("septicemia",)),
         Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0001945", "Fever", "phenotype")], [])
    monkeypatch.setattr("realm.features.entities.load_kg", lambda spec, progress=False: kg)
    monkeypatch.setattr("realm.kg.spec.load_kg", lambda spec, progress=False, rebuild=False: kg)
    return kg


def tiny_bench_config(folder: Path, **settings: object) -> Path:
    """A ``realm bench synthetic`` settings file for a tiny, fast run: the shipped configs with
    small overlays (width 8, one epoch, hashed node vectors, two summary factors) on top."""
    import yaml

    overlays = {
        "data.yaml": {"data": {"init_args": {"extra_modalities": [
            {"class_path": "realm.features.entities.EntityProvider",
             "init_args": {"source": "mentions", "embedder": "hashing", "node_dim": 8, "max_entities": 96,
                           "ancestor_depth": 2, "ancestor_backoff": True, "ancestor_types": None}},
            {"class_path": "realm.features.summary.SummaryProvider", "init_args": {"n_factors": 2}}]}}},
        "realm.yaml": {"model": {"init_args": {"encoder": {"init_args": {"hidden": 8}},
                                               "config": {"hidden": 8, "heads": 2, "entity_dropout": 0.1}}},
                       "trainer": {"max_epochs": 1}},
        "timeseries.yaml": {"model": {"init_args": {"encoder": {"init_args": {"hidden": 8}}}},
                            "trainer": {"max_epochs": 1}},
    }
    for name, overlay in overlays.items():
        (folder / name).write_text(yaml.safe_dump(overlay))
    bench = {"n_stays": 120, "n_resamples": 20, "neural_seeds": 1,
             **{key: [f"bench/synthetic/{key}.yaml", str(folder / f"{key}.yaml")]
                for key in ("data", "realm", "timeseries")}, **settings}
    path = folder / f"bench-{len(list(folder.glob('bench-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(bench))
    return path
