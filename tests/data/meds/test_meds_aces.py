"""ACES, run on realm's MEDS export with configs/aces/mortality.yaml, labels every stay
as realm does: an implementation of the task definition nobody here wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("aces")
pl = pytest.importorskip("polars")

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "aces" / "mortality.yaml"


def _aces_results(meds_dir: Path, config: Path) -> dict[Path, object]:
    """ACES's query result per data shard (a polars frame; empty shards left out)."""
    from aces import config as aces_config
    from aces import predicates, query
    from omegaconf import DictConfig

    out = {}
    for shard in sorted((meds_dir / "data").rglob("*.parquet")):
        # query() changes the config it is given: a fresh one per shard.
        cfg = aces_config.TaskExtractorConfig.load(config_path=str(config))
        frame = predicates.get_predicates_df(cfg, DictConfig({"path": str(shard),
                                                              "standard": "meds"}))
        result = query.query(cfg, frame)
        if result.width:
            out[shard.relative_to(meds_dir / "data")] = result
    return out


def aces_labels(meds_dir: Path, config: Path = CONFIG) -> pd.DataFrame:
    """ACES's labels over every shard: subject_id, prediction_time, label."""
    return pd.concat([result.select("subject_id", pl.col("index_timestamp")
                                    .alias("prediction_time"), "label").to_pandas()
                      for result in _aces_results(meds_dir, config).values()], ignore_index=True)


def realm_labels(meds_dir: Path, task: str = "mortality") -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((meds_dir / "labels" / task)
                                                         .rglob("*.parquet"))], ignore_index=True)


def test_aces_agrees_with_realm_on_mortality_at_48h(synthetic_export) -> None:
    _, meds_dir = synthetic_export
    ours = realm_labels(meds_dir)
    theirs = aces_labels(meds_dir)
    both = ours.merge(theirs, on=["subject_id", "prediction_time"], how="outer", indicator=True)
    only = both[both["_merge"] != "both"]
    assert only.empty, f"stays labelled by one side only:\n{only}"
    differ = both[both["boolean_value"].astype(int) != both["label"].astype(int)]
    assert differ.empty, f"stays labelled differently:\n{differ}"
    assert ours["boolean_value"].sum() > 0 and (~ours["boolean_value"]).sum() > 0


READMISSION = CONFIG.with_name("readmission_30d.yaml")


def _stay_keys(cohort) -> pd.DataFrame:
    """stay_id, subject_id and prediction_time (ICU admission + 48 h) of every stay."""
    stays = cohort.stays
    return pd.DataFrame({"stay_id": stays["stay_id"], "subject_id": stays["subject_id"],
                         "prediction_time": (stays["intime"] + pd.Timedelta(hours=48))
                         .astype("datetime64[us]"), "dischtime": stays["dischtime"]})


def _within_30_days(when: pd.Series, discharge: pd.Timestamp) -> pd.Series:
    return (when > discharge) & (when <= discharge + pd.Timedelta(days=30))


def test_aces_readmission_and_every_disagreement_explained(synthetic_export) -> None:
    """ACES and realm define the same stays. Where they differ, realm is right: the
    readmission (or death) happened in the source but outside the cohort, so its MEDS export
    does not hold it; ACES agrees stay by stay with realm's definition over the export."""
    from realm.data.meds import read_meds
    from tests.data.meds.meds_fixtures import realm_mapping

    cohort_dir, meds_dir = synthetic_export
    theirs = aces_labels(meds_dir, READMISSION)
    derived = read_meds(meds_dir, realm_mapping(), progress=False)
    keys = _stay_keys(derived).merge(derived.labels, on="stay_id")
    ours = realm_labels(meds_dir, "readmission_30d")
    both = ours.merge(theirs, on=["subject_id", "prediction_time"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), "ACES and realm define different stays"
    both = both.merge(keys, on=["subject_id", "prediction_time"])
    aces_positive = both["label"] > 0
    assert (aces_positive == (both["readmission_30d"] == 1)).all()  # same data, same answer
    assert not (aces_positive & ~both["boolean_value"]).any()
    missed = both[~aces_positive & both["boolean_value"]]
    assert len(missed) > 0  # the synthetic hospital has readmissions outside the cohort
    hospital = cohort_dir.parent / "hospital"
    admissions = pd.read_csv(hospital / "ADMISSIONS.csv", parse_dates=["ADMITTIME"])
    patients = pd.read_csv(hospital / "PATIENTS.csv", parse_dates=["DOD"])
    in_cohort = set(derived.stays["hadm_id"].dropna().astype(int))
    for row in missed.itertuples():
        mine = admissions[admissions["SUBJECT_ID"] == row.subject_id]
        outside = mine[~mine["HADM_ID"].isin(in_cohort)
                       & _within_30_days(mine["ADMITTIME"], row.dischtime)]
        died = patients.loc[patients["SUBJECT_ID"] == row.subject_id, "DOD"]
        assert len(outside) or _within_30_days(died, row.dischtime).any(), \
            f"stay {row.stay_id}: unexplained"


def test_realm_reads_the_label_files_aces_writes(synthetic_export, tmp_path: Path) -> None:
    """ACES's output, written as aces-cli writes it (``<cohort_name>/<shard>.parquet``), is
    a labels folder for read_meds; the stays get the cohort's own labels back."""
    from aces.run import get_and_validate_label_schema

    from realm.data.cohort import Cohort
    from realm.data.meds import read_meds
    from tests.data.meds.meds_fixtures import realm_mapping

    cohort_dir, meds_dir = synthetic_export
    for shard, result in _aces_results(meds_dir, CONFIG).items():
        target = tmp_path / "labels" / "mortality" / shard
        target.parent.mkdir(parents=True, exist_ok=True)
        # aces-cli's own renames before it writes (aces.run.main).
        named = result.rename({"index_timestamp": "prediction_time", "label": "boolean_value"})
        pq.write_table(get_and_validate_label_schema(named), target)
    cohort = read_meds(meds_dir, realm_mapping(), labels_dir=tmp_path / "labels", progress=False)
    original = Cohort.load(cohort_dir, tables=())
    got = cohort.labels.set_index("stay_id")["mortality"].sort_index()
    want = original.labels.set_index("stay_id")["mortality"].sort_index()
    pd.testing.assert_series_equal(got, want, check_dtype=False)
    assert cohort.quality.total() == 0
