"""Explanations: snippets, stay selection, and both model kinds end to end on a synthetic
cohort linked to a KG whose fever is coded in four vocabularies."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.records import Assertion
from realm.eval.explain import (LISTS, SNIPPET_CHARS, Explanations, explain_stays, list_of,
                                select_stays, snippet)

from tests.kg_fixtures import write_csv_kg

SEPSIS = Path(__file__).resolve().parents[2] / "kg" / "examples" / "sepsis_icu"
#: Fever as HPO, ICD-10-CM and ICD-9-CM codes beside the sepsis KG's own: the lexicon links
#: one "fever" to all four, the crosswalk (same_as, maps_to) joins them.
FEVER_CODES = ("HP:0001945", "ICD10CM:R50.9", "ICD9CM:780.60", "ICU:fever")
NODES = ('HP:0001945,Fever,phenotype,pyrexia,,HPO,\n'
         'ICD10CM:R50.9,"Fever, unspecified",disease,fever,,ICD-10-CM,\n'
         'ICD9CM:780.60,"Fever, unspecified",disease,fever,,ICD-9-CM,\n'
         'HP:0025142,Constitutional symptom,phenotype,,,HPO,\n')
EDGES = ("ICU:fever,HP:0001945,same_as,xref\nICD10CM:R50.9,HP:0001945,same_as,xref\n"
         "ICD9CM:780.60,ICD10CM:R50.9,maps_to,GEM\nHP:0001945,HP:0025142,is_a,HPO\n")


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



@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A 40-stay synthetic cohort with lexicon mentions linked to the sepsis KG plus fever's
    vocabulary duplicates."""
    from realm.data.prepare import prepare_cohort
    from realm.data.synth import write_synthetic_hospital
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    root = tmp_path_factory.mktemp("explain")
    spec = str(write_csv_kg(root / "kg", (SEPSIS / "nodes.csv").read_text() + NODES,
                            (SEPSIS / "edges.csv").read_text() + EDGES, name="fever"))
    write_synthetic_hospital(root / "raw", n_stays=40, seed=3)
    _, folder = prepare_cohort("synthetic", root / "raw", root / "cohort", progress=False)
    mentions = extract_mentions(folder, spec, ExtractConfig(linker="dictionary", progress=False),
                                out=root / "mentions")
    return folder, mentions, spec


def _test_stays(folder: Path, n: int = 4) -> pd.DataFrame:
    stays = pd.read_parquet(folder / "stays.parquet")
    ids = stays.loc[stays["split"] == "train", "stay_id"].to_numpy()[:n]
    return pd.DataFrame({"stay_id": ids, "reason": "random"})


@pytest.mark.slow
def test_time_series_model_gets_hours_x_variables(cohort, tmp_path: Path) -> None:
    from realm.data.datamodule import RealmDataModule
    from realm.models.module import TimeSeriesModel

    folder, _, _ = cohort
    dm = RealmDataModule(str(folder), tasks=["mortality", "readmission_30d"], cache_dir=str(tmp_path))
    torch.manual_seed(0)
    model = TimeSeriesModel(dm.tasks, dm.n_features, dm.n_variables, dm.n_statics)
    chosen = _test_stays(folder)
    ex = explain_stays(model, dm, chosen, "readmission_30d", top_k=3, window_hours=6)
    assert ex.entities.empty and ex.stays["gate_entities"].isna().all()
    assert len(ex.timeseries) == 3 * len(chosen)
    first = ex.timeseries[ex.timeseries["stay_id"] == chosen["stay_id"][0]]
    assert first["rank"].tolist() == [1, 2, 3]
    assert (first["effect"].abs().diff().dropna() <= 1e-12).all()  # sorted by size of effect
    assert (ex.timeseries["effect"] != 0).any()
    assert set(ex.timeseries["variable"]) <= set(dm.tensors.variable_names)
    assert ((ex.timeseries["hour_end"] - ex.timeseries["hour_start"]) == 6).all()
    assert ex.timeseries["hour_end"].max() <= 48
    # the window held measurements; the value shown is the last of them, raw
    events = pd.read_parquet(folder / "events.parquet")
    for row in ex.timeseries.itertuples():
        seen = events[(events["stay_id"] == row.stay_id) & (events["variable"] == row.variable)
                      & (events["hours"].clip(lower=0) >= row.hour_start)
                      & ((events["hours"] < row.hour_end) | (row.hour_end == 48) & (events["hours"] <= 48))]
        assert row.n_measured == len(seen) > 0
        assert row.value == pytest.approx(seen.sort_values("hours")["value"].iloc[-1])
    saved = Explanations.load(ex.save(tmp_path / "ex"))
    pd.testing.assert_frame_equal(saved.timeseries, ex.timeseries)


@pytest.fixture(scope="module")
def realm_run(cohort, tmp_path_factory: pytest.TempPathFactory):
    """An (untrained, seeded) REALM model on the cohort and the explanations of its five
    highest-risk stays and two others."""
    from realm.data.datamodule import RealmDataModule
    from realm.eval.occlusion import risks
    from realm.features.entities import EntityProvider
    from realm.kg.spec import load_kg
    from realm.models.realm_model import RealmConfig, RealmModel

    folder, mentions_file, spec = cohort
    provider = EntityProvider(mentions_file=str(mentions_file), kg=spec, embedder="hashing",
                              node_dim=16)
    dm = RealmDataModule(str(folder), tasks=["mortality"], extra_modalities=[provider],
                         cache_dir=str(tmp_path_factory.mktemp("cache")))
    dm.setup("predict")
    torch.manual_seed(0)
    model = RealmModel(dm.tasks, dm.n_features, dm.n_variables, dm.n_statics,
                       config=RealmConfig(hidden=16, heads=2), node_dim=16)
    everyone = dm._collate(list(range(len(dm.tensors.stay_ids))))
    predictions = pd.DataFrame({"stay_id": dm.tensors.stay_ids, "task": "mortality", "model": "REALM",
                                "y_prob": risks(model, everyone, 0)})
    chosen = select_stays(predictions, "mortality", "REALM", n_top=5, n_random=2)
    kg = load_kg(spec, progress=False)
    mentions = pd.read_parquet(mentions_file)
    ex = explain_stays(model, dm, chosen, "mortality", kg=kg, mentions=mentions, top_k=4)
    batch = dm._collate([int(np.flatnonzero(dm.tensors.stay_ids == s)[0]) for s in chosen["stay_id"]])
    return model, provider, kg, mentions, batch, ex


def _tokens(batch: dict, provider, i: int) -> pd.DataFrame:
    idx = np.flatnonzero(batch["entities_mask"][i].numpy())
    return pd.DataFrame({"token": idx,
                         "node": [provider.node_ids[int(batch["entities_node"][i, e])] for e in idx],
                         # the provider's codes: 0 = padding, i + 1 = the i-th Assertion
                         "assertion": [list(Assertion)[int(batch["entities_assertion"][i, e]) - 1].value
                                       for e in idx]})


@pytest.mark.slow
def test_realm_entities_are_named_listed_and_evidenced(realm_run) -> None:
    _, _, kg, _, _, ex = realm_run
    assert len(ex.entities) > 0
    assert np.allclose(ex.stays[["gate_timeseries", "gate_entities", "gate_notes"]].sum(axis=1), 1)
    for row in ex.entities.itertuples():
        codes = row.codes.split(", ")
        assert row.name in {kg.node(c).name for c in codes} and row.concept in codes
        assert row.list == list_of(row.assertion) and row.list in LISTS
        assert row.kg_path.startswith(tuple(kg.node(c).name for c in codes))
        assert len(row.snippet) <= SNIPPET_CHARS and row.snippet  # every entity has evidence
    for _, rows in ex.entities.groupby(["stay_id", "list"]):
        assert rows.sort_values("rank")["effect"].is_monotonic_decreasing
        assert rows["rank"].tolist() == sorted(rows["rank"]) and rows["rank"].min() == 1


def _per_stay(realm_run):
    """(stay, its entity tokens, its explanation rows) for every explained stay."""
    _, provider, _, _, batch, ex = realm_run
    for i, stay in enumerate(batch["stay_id"].tolist()):
        yield stay, _tokens(batch, provider, i), ex.entities[ex.entities["stay_id"] == stay]


@pytest.mark.slow
def test_a_negated_mention_is_never_a_present_finding(realm_run) -> None:
    checked = 0
    for _, tokens, rows in _per_stay(realm_run):
        for row in rows.itertuples():
            # every token behind a row carries that row's assertion
            behind = tokens[tokens["node"].isin(row.codes.split(", "))
                            & (tokens["assertion"] == row.assertion)]
            assert len(behind) > 0
        negated_only = set(tokens.loc[tokens["assertion"] == "negated", "node"]) \
            - set(tokens.loc[tokens["assertion"] == "present", "node"])
        present_codes = {c for r in rows[rows["list"] == "present"]["codes"] for c in r.split(", ")}
        assert not negated_only & present_codes
        checked += len(negated_only)
    assert checked > 0  # the stays do have negated mentions


@pytest.mark.slow
def test_vocabulary_duplicates_are_one_row_with_all_codes(realm_run) -> None:
    merged = 0
    for _, tokens, rows in _per_stay(realm_run):
        for assertion, fever in tokens[tokens["node"].isin(FEVER_CODES)].groupby("assertion"):
            hits = rows[(rows["assertion"] == assertion)
                        & rows["codes"].str.contains("fever|R50|780|0001945")]
            assert len(hits) == 1
            assert set(fever["node"]) <= set(hits["codes"].iloc[0].split(", "))
            merged += len(set(fever["node"])) > 1
    assert merged > 0


@pytest.mark.slow
def test_effect_is_the_risk_change_when_the_concept_is_removed(realm_run) -> None:
    model, provider, _, _, batch, ex = realm_run
    row = ex.entities[ex.entities["codes"].str.count(",") > 0].iloc[0]  # a merged concept
    i = batch["stay_id"].tolist().index(row["stay_id"])
    tokens = _tokens(batch, provider, i)
    gone = tokens[tokens["node"].isin(row["codes"].split(", ")) & (tokens["assertion"] == row["assertion"])]
    without = {**batch, "entities_mask": batch["entities_mask"].clone()}
    without["entities_mask"][i, gone["token"].tolist()] = False
    model.eval()
    with torch.no_grad():
        full, less = (torch.sigmoid(model(b)[i, 0]).item() for b in (batch, without))
    assert row["effect"] == pytest.approx(full - less, abs=1e-6)
    assert np.sign(row["effect"]) == np.sign(full - less) != 0


@pytest.mark.slow
def test_highest_risk_stays_show_risk_raising_entities_first(realm_run) -> None:
    *_, ex = realm_run
    top = ex.stays.loc[ex.stays["reason"] == "highest risk", "stay_id"]
    raising = 0
    for (stay, _), rows in ex.entities[ex.entities["stay_id"].isin(top)].groupby(["stay_id", "list"]):
        if (rows["effect"] > 0).any():
            first = rows.sort_values("rank").iloc[0]
            assert first["effect"] == rows["effect"].max() > 0
            raising += 1
    assert raising > 0
