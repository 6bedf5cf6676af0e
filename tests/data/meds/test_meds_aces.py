"""ACES, run on realm's MEDS export with configs/aces/mortality_48h.yaml, labels every stay
as realm does: an implementation of the task definition nobody here wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

aces = pytest.importorskip("aces")
pl = pytest.importorskip("polars")

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "aces" / "mortality_48h.yaml"


def aces_labels(meds_dir: Path, config: Path = CONFIG) -> pd.DataFrame:
    """ACES's labels over every shard: subject_id, prediction_time, label."""
    from aces import config as aces_config
    from aces import predicates, query
    from omegaconf import DictConfig

    parts = []
    for shard in sorted((meds_dir / "data").rglob("*.parquet")):
        # query() changes the config it is given: a fresh one per shard.
        cfg = aces_config.TaskExtractorConfig.load(config_path=str(config))
        frame = predicates.get_predicates_df(cfg, DictConfig({"path": str(shard),
                                                              "standard": "meds"}))
        result = query.query(cfg, frame)
        if result.width:
            parts.append(result.select("subject_id", pl.col("index_timestamp")
                                       .alias("prediction_time"), "label").to_pandas())
    return pd.concat(parts, ignore_index=True)


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
