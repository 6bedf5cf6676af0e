"""Benchmark: ``realm data prepare --source meds`` on a generated MEDS dataset of N events.

Generates, with polars and a seeded generator, a MEDS dataset in realm's own export code
scheme (``realm/data/meds/mappings/realm_export.yaml`` reads it): a few thousand subjects of
one ICU stay each, in shards of ``subjects_per_shard`` subjects, nearly all rows
``LAB//<variable>//<unit>`` spread over a 96-hour stay (so about half fall after the 48-hour
cut), plus notes, drug orders and a share of codes no mapping knows (counted, not read).
Then runs the real command in a child process and reports its wall time, events/s and peak
resident memory (``ru_maxrss`` of that child alone, from ``os.wait4``).

    nice realm bench meds-scale --events 5000000 --out meds-5m.json

``keep`` keeps the generated dataset and ``root`` measures an existing one again.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from realm.data.meds.export import EXPORT_SCHEMA
from realm.data.meds.schema import validate
from realm.errors import DataError
from realm.resources import load_variables

__all__ = ["MedsScaleConfig", "run", "generate", "measure", "format_table"]

#: The realm variables the generated LAB rows use (each with its canonical unit).
VARIABLES = ("heart_rate", "sbp", "dbp", "resp_rate", "temperature", "spo2", "glucose",
             "potassium", "sodium", "creatinine")
#: Shares of a stay's timed rows that are notes, drug orders and unmapped codes.
NOTE_SHARE, DRUG_SHARE, UNMAPPED_SHARE = 0.01, 0.02, 0.01
STAY_HOURS, BASE = 96, datetime(2150, 1, 1)
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class MedsScaleConfig:
    """What ``realm bench meds-scale`` measures.

    Args:
        events: rows of the generated dataset.
        subjects: subjects (one ICU stay each).
        subjects_per_shard: subjects per data shard.
        seed: the generator's seed.
        out: JSON result.
        workdir: where to write the dataset and cohort (default: the system's temp folder).
        keep: keep the generated dataset.
        root: measure this existing MEDS dataset (realm's export codes) instead.
    """

    events: int = 50_000_000
    subjects: int = 4_000
    subjects_per_shard: int = 500
    seed: int = 0
    out: Path = Path("meds_scale.json")
    workdir: Path | None = None
    keep: bool = False
    root: Path | None = None


def _codes() -> tuple[list[str], list[str], list[str], list[str]]:
    """LAB, NOTE, MEDICATION and unmapped codes of the dataset."""
    variables = load_variables()
    labs = [f"LAB//{v}//{variables[v].unit}" for v in VARIABLES]
    notes = ["NOTE//Nursing/other", "NOTE//Physician"]
    drugs = ["MEDICATION//Heparin", "MEDICATION//Vancomycin", "MEDICATION//Furosemide"]
    unmapped = ["DIAGNOSIS//ICD//10//I10", "PROCEDURE//START//225792"]
    return labs, notes, drugs, unmapped


_SCHEMA = pl.from_arrow(EXPORT_SCHEMA.empty_table()).schema


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every export column (absent ones null), in order and type."""
    return frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                         for c, t in _SCHEMA.items()])


def _stay_rows(subjects: np.ndarray, intime_us: np.ndarray, rng: np.random.Generator
               ) -> list[pl.DataFrame]:
    """Sex, admission, ICU stay, age, discharges and (for one in ten) death per subject."""
    n = len(subjects)
    died = rng.random(n) < 0.1
    stay = subjects * 10 + 1

    def rows(code: str, hours: float | None, keep: np.ndarray | slice = slice(None),
             **cols: Any) -> pl.DataFrame:
        frame = pl.DataFrame({"subject_id": subjects[keep], "hadm_id": subjects[keep], **{
            k: v[keep] for k, v in cols.items()}})
        time = None if hours is None else intime_us[keep] + int(hours * _US_PER_HOUR)
        return _conform(frame.with_columns(code=pl.lit(code), time=time))

    return [rows("GENDER//F", None).with_columns(hadm_id=pl.lit(None, pl.Int64)),
            rows("HOSPITAL_ADMISSION", -2),
            rows("ICU_ADMISSION//MICU", 0, stay_id=stay),
            rows("AGE", 0, stay_id=stay, numeric_value=rng.uniform(20, 90, n)),
            rows("ICU_DISCHARGE", STAY_HOURS, stay_id=stay),
            rows("HOSPITAL_DISCHARGE", STAY_HOURS + 24),
            rows("MEDS_DEATH", STAY_HOURS + 24, died)]


def _timed_rows(subjects: np.ndarray, intime_us: np.ndarray, count: int,
                rng: np.random.Generator) -> pl.DataFrame:
    """``count`` lab, note, drug and unmapped rows spread over the subjects' stays."""
    labs, notes, drugs, unmapped = _codes()
    variables = load_variables()
    normal = np.array([variables[v].normal for v in VARIABLES], dtype="float64")
    pool = labs + notes + drugs + unmapped
    bounds = np.cumsum([len(labs), len(notes), len(drugs), len(unmapped)])
    owner = rng.integers(0, len(subjects), count)
    draw = rng.random(count)
    group = np.select([draw < NOTE_SHARE, draw < NOTE_SHARE + DRUG_SHARE,
                       draw < NOTE_SHARE + DRUG_SHARE + UNMAPPED_SHARE], [1, 2, 3], 0)
    low = np.concatenate([[0], bounds[:-1]])[group]
    pick = low + (rng.random(count) * (bounds[group] - low)).astype("int64")
    frame = pl.DataFrame({
        "subject_id": subjects[owner], "hadm_id": subjects[owner],
        "time": intime_us[owner] + rng.integers(0, STAY_HOURS * _US_PER_HOUR, count),
        "code": pl.Series(pool).gather(pick), "group": group,
        # Around each variable's normal value (5 % spread), so every value is plausible.
        "numeric_value": (normal[np.minimum(pick, len(labs) - 1)]
                          * rng.normal(1.0, 0.05, count)).astype("float32"),
        "stay_id": subjects[owner] * 10 + 1, "row": np.arange(count)})
    return _conform(frame.with_columns(
        numeric_value=pl.when(pl.col("group") == 0).then(pl.col("numeric_value")),
        text_value=pl.when(pl.col("group") == 1).then(pl.lit("Stable overnight, afebrile."))
        .when(pl.col("group") == 2).then(pl.lit("IV")),
        note_id=pl.when(pl.col("group") == 1).then(pl.col("row").cast(pl.String)),
        stay_id=pl.when(pl.col("group") < 3).then(pl.col("stay_id"))))


def _shard(subjects: np.ndarray, rows_per_subject: int, rng: np.random.Generator) -> pa.Table:
    """One shard: every subject's stay rows and timed rows, sorted by subject and time."""
    intime_us = (np.datetime64(BASE, "us").astype("int64")
                 + subjects.astype("int64") * 7 * 24 * _US_PER_HOUR)
    parts = _stay_rows(subjects, intime_us, rng)
    count = max(rows_per_subject * len(subjects) - sum(p.height for p in parts), len(subjects))
    parts.append(_timed_rows(subjects, intime_us, count, rng))
    frame = pl.concat(parts).sort(["subject_id", "time"], nulls_last=False)
    return frame.to_arrow().cast(EXPORT_SCHEMA)


def generate(root: Path, cfg: MedsScaleConfig) -> dict[str, int]:
    """Write the dataset under ``root``; returns its event, subject and shard counts."""
    if cfg.events < 1 or cfg.subjects < 1 or cfg.subjects_per_shard < 1:
        raise DataError("events, subjects and subjects_per_shard must be positive")
    rng = np.random.default_rng(cfg.seed)
    per_subject = max(cfg.events // cfg.subjects, 8)
    subjects = np.arange(1, cfg.subjects + 1, dtype="int64")
    total = 0
    starts = range(0, cfg.subjects, cfg.subjects_per_shard)
    for k, start in enumerate(starts):
        table = _shard(subjects[start:start + cfg.subjects_per_shard], per_subject, rng)
        path = root / "data" / "train" / f"{k}.parquet"
        validate("DataSchema", table.schema, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=1_000_000)
        total += table.num_rows
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "dataset.json").write_text(json.dumps(
        {"dataset_name": "realm-meds-scale", "dataset_version": str(cfg.seed),
         "etl_name": "realm.bench.meds_scale", "etl_version": "1", "meds_version": "0.4"}))
    return {"events": total, "subjects": cfg.subjects, "shards": len(starts)}


def measure(root: Path, out: Path) -> dict[str, Any]:
    """``realm data prepare --source meds`` on ``root`` in a child process: wall time and
    the child's own peak RSS."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "realm.cli", "data", "prepare", "--source",
                                 "meds", "--root", str(root), "--out", str(out), "--no-progress"],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        # wait4, not RUSAGE_CHILDREN: the peak of this child alone, not of every child so far.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            log.seek(0)
            raise DataError(f"prepare --source meds failed (exit {proc.returncode}): "
                            f"{log.read()[-3000:]}", path=root)
    meta = json.loads((out / "meta.json").read_text())
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
            "cohort_counts": meta.get("counts", {})}


def run(cfg: MedsScaleConfig) -> dict[str, Any]:
    """Generate (or reuse) the dataset, prepare it in a child process; returns the report
    written to ``cfg.out``."""
    if cfg.workdir is not None:
        Path(cfg.workdir).mkdir(parents=True, exist_ok=True)  # a --workdir that does not exist yet
    work = Path(tempfile.mkdtemp(prefix="realm-meds-scale-", dir=cfg.workdir))
    try:
        if cfg.root is not None:
            root, gen_s = cfg.root, None
            counts = {"events": sum(pq.read_metadata(p).num_rows
                                    for p in (root / "data").rglob("*.parquet"))}
        else:
            root = work / "meds"
            started = time.perf_counter()
            counts = generate(root, cfg)
            gen_s = time.perf_counter() - started
        load_before = os.getloadavg()
        result = measure(root, work / "cohort")
        report = {
            **counts, "generate_s": gen_s, "events_per_s": counts["events"] / result["wall_s"],
            "seed": cfg.seed, "subjects_per_shard": cfg.subjects_per_shard,
            "data_mb": sum(p.stat().st_size for p in (root / "data").rglob("*.parquet")) / 2**20,
            "load_avg_1_5_15": {"before": load_before, "after": os.getloadavg()},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "polars": pl.__version__, "platform": platform.platform()},
            **result,
        }
        cfg.out.write_text(json.dumps(report, indent=2))
        if cfg.keep:
            report["kept"] = str(work)
        return report
    finally:
        if not cfg.keep:
            shutil.rmtree(work, ignore_errors=True)


def format_table(report: dict[str, Any]) -> str:
    """Events, shards, wall time, events/s and peak RSS in one row."""
    return (f"{'events':>12} {'shards':>7} {'wall s':>8} {'events/s':>12} {'peak RSS MB':>12}\n"
            f"{report['events']:>12,} {report.get('shards', 0):>7} {report['wall_s']:>8.1f} "
            f"{report['events_per_s']:>12,.0f} {report['peak_rss_mb']:>12,.0f}")
