"""Explanations: snippets, stay selection, gradient x input, and both model kinds end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.eval.explain import (SNIPPET_CHARS, Explanations, explain_stays, gradient_x_input,
                                select_stays, snippet)

KG_SPEC = str(Path(__file__).resolve().parents[2] / "kg" / "examples" / "sepsis_icu.yaml")


def test_snippet_is_short_marked_and_from_the_text() -> None:
    text = "Pt admitted overnight.\n\n" + "x " * 200 + "Assessment: septic shock, on pressors. " + "y " * 200
    start = text.index("septic shock")
    s = snippet(text, [[start, start + len("septic shock")]])
    assert len(s) <= SNIPPET_CHARS and "«septic shock»" in s
    assert s.startswith("…") and s.endswith("…")
    assert s.replace("«", "").replace("»", "").strip("…") in re.sub(r"\s+", " ", text)
    assert snippet("fever", [[0, 5]]) == "«fever»"


def test_select_stays_top_then_seeded_random() -> None:
    frame = pd.DataFrame({"stay_id": np.arange(20), "task": "mortality", "model": "m",
                          "y_prob": np.linspace(0, 1, 20)})
    chosen = select_stays(frame, "mortality", "m", n_top=3, n_random=4, seed=5)
    assert chosen["stay_id"].tolist()[:3] == [19, 18, 17]
    assert chosen["reason"].tolist() == ["highest risk"] * 3 + ["random"] * 4
    assert not set(chosen["stay_id"][3:]) & {19, 18, 17}
    again = select_stays(frame, "mortality", "m", n_top=3, n_random=4, seed=5)
    assert again.equals(chosen)
    assert not select_stays(frame, "mortality", "m", 3, 4, seed=6).equals(chosen)


def test_gradient_x_input_of_a_linear_model_is_weight_times_value() -> None:
    weights = torch.randn(4, 3)

    class Linear(torch.nn.Module):
        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return (batch["values"] * weights).sum(dim=(1, 2))[:, None]  # (B, 1)

    values = torch.randn(2, 4, 3)
    attr = gradient_x_input(Linear(), {"values": values}, task=0)
    torch.testing.assert_close(attr, weights * values)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 40-stay synthetic cohort with lexicon mentions linked to the sepsis example KG."""
    from realm.data.prepare import prepare_cohort
    from realm.data.synth import write_synthetic_hospital
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    root = tmp_path_factory.mktemp("explain")
    write_synthetic_hospital(root / "raw", n_stays=40, seed=3)
    _, folder = prepare_cohort("synthetic", root / "raw", root / "cohort", progress=False)
    mentions = extract_mentions(folder, KG_SPEC, ExtractConfig(linker="dictionary", progress=False),
                                out=root / "mentions")
    return folder, mentions


def _test_stays(folder: Path, n: int = 4) -> pd.DataFrame:
    stays = pd.read_parquet(folder / "stays.parquet")
    ids = stays.loc[stays["split"] == "train", "stay_id"].to_numpy()[:n]
    return pd.DataFrame({"stay_id": ids, "reason": "random"})


@pytest.mark.slow
def test_time_series_model_gets_hours_x_variables(cohort, tmp_path: Path) -> None:
    from realm.data.datamodule import RealmDataModule
    from realm.models.module import TimeSeriesModel

    folder, _ = cohort
    dm = RealmDataModule(str(folder), tasks=["mortality", "readmission_30d"], cache_dir=str(tmp_path))
    torch.manual_seed(0)
    model = TimeSeriesModel(dm.tasks, dm.n_features, dm.n_variables, dm.n_statics)
    chosen = _test_stays(folder)
    ex = explain_stays(model, dm, chosen, "readmission_30d", top_k=3)
    assert ex.entities.empty and ex.stays["gate_entities"].isna().all()
    assert len(ex.timeseries) == 3 * len(chosen)
    first = ex.timeseries[ex.timeseries["stay_id"] == chosen["stay_id"][0]]
    assert first["rank"].tolist() == [1, 2, 3]
    assert (first["attribution"].abs().diff().dropna() <= 1e-12).all()  # sorted by |attribution|
    assert set(ex.timeseries["variable"]) <= set(dm.tensors.variable_names)
    assert ex.timeseries["hour_end"].max() <= 48
    # the value shown is the raw value last recorded by the end of that bin
    events = pd.read_parquet(folder / "events.parquet")
    row = ex.timeseries[ex.timeseries["value"].notna()].iloc[0]
    seen = events[(events["stay_id"] == row["stay_id"]) & (events["variable"] == row["variable"])
                  & (events["hours"] <= row["hour_end"])].sort_values("hours")
    assert row["value"] == pytest.approx(seen["value"].iloc[-1])
    saved = Explanations.load(ex.save(tmp_path / "ex"))
    pd.testing.assert_frame_equal(saved.timeseries, ex.timeseries)


@pytest.mark.slow
def test_realm_model_gets_entities_with_names_and_snippets(cohort, tmp_path: Path) -> None:
    from realm.data.datamodule import RealmDataModule
    from realm.kg.spec import load_kg
    from realm.features.entities import EntityProvider
    from realm.models.realm_model import RealmConfig, RealmModel

    folder, mentions_file = cohort
    provider = EntityProvider(mentions_file=str(mentions_file), kg=KG_SPEC, embedder="hashing",
                              node_dim=16)
    dm = RealmDataModule(str(folder), tasks=["mortality"], extra_modalities=[provider],
                         cache_dir=str(tmp_path))
    torch.manual_seed(0)
    model = RealmModel(dm.tasks, dm.n_features, dm.n_variables, dm.n_statics,
                       config=RealmConfig(hidden=16, heads=2), node_dim=16)
    mentions = pd.read_parquet(mentions_file)
    with_entities = mentions.loc[mentions["node_id"].notna(), "stay_id"].unique()
    train = pd.read_parquet(folder / "stays.parquet").query("split == 'train'")["stay_id"]
    ids = [s for s in train if s in set(with_entities)][:3]
    kg = load_kg(KG_SPEC, progress=False)
    ex = explain_stays(model, dm, pd.DataFrame({"stay_id": ids, "reason": "random"}), "mortality",
                       kg=kg, mentions=mentions, top_k=4)
    assert len(ex.entities) > 0
    assert np.allclose(ex.stays[["gate_timeseries", "gate_entities", "gate_notes"]].sum(axis=1), 1)
    for row in ex.entities.itertuples():
        node = kg.node(row.node_id)
        assert (row.name, row.type) == (node.name, node.type)
        assert row.assertion in {"present", "negated", "historical", "family", "hypothetical"}
        assert len(row.snippet) <= SNIPPET_CHARS and row.snippet  # every entity has evidence
    # occlusion values are the model's own explain() numbers
    batch = dm._collate([int(np.flatnonzero(dm.tensors.stay_ids == ids[0])[0])])
    own = model.explain(batch, top_k=4)[0]["entities"]
    first = ex.entities[ex.entities["stay_id"] == ids[0]]
    np.testing.assert_allclose(first["occlusion"], [e["occlusion"] for e in own], atol=1e-6)
