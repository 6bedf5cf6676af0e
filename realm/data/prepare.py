"""`realm data prepare`: read a source into a cohort, assign splits, save it (cached).

One function per step, joined by :func:`prepare_cohort`: pick the source's reader, attach
the synthetic hospital's oracle when there is one, assign subject-level splits, validate,
and save. Without an explicit output folder the cohort is cached under
``<cache>/cohort/<key>``, the key hashing the input files' content and the configuration,
so a second identical call loads the saved cohort instead of re-reading the source.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from realm.cache import config_hash, inputs_digest, stage_dir
from realm.data.cohort import Cohort
from realm.data.splits import SPLITS, assign_splits, check_fractions
from realm.errors import ConfigError, DataError

__all__ = ["SOURCES", "PREPARE_VERSION", "prepare_cohort", "attach_oracle"]

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("mimic3", "mimic4", "physionet2012", "synthetic", "meds")
#: Bump when the reader output or the split logic changes, so old caches are not reused.
PREPARE_VERSION = 2
#: The MIMIC layout each MIMIC-like source reads through (the synthetic hospital is written
#: in MIMIC-III's format).
MIMIC_LAYOUTS: dict[str, str] = {"mimic3": "mimic3", "mimic4": "mimic4", "synthetic": "mimic3"}
ORACLE_FILE = "TRUE_RISK.csv"
ORACLE_COLUMNS = ("ICUSTAY_ID", "SUBJECT_ID", "RISK_MORTALITY", "RISK_READMISSION", "SPLIT")


def _read_source(source: str, root: Path, *, window_hours: float,
                 sets: Sequence[str] | None, labs: Sequence[str] | None,
                 progress: bool, strict: bool, mapping: Path | None,
                 meds_labels: Path | None, max_bad_fraction: float | None = None) -> Cohort:
    """Run the reader of ``source``. Imports are lazy: each reader pulls in its own stack."""
    if source == "meds":
        if sets is not None or labs is not None:
            raise ConfigError("--sets and --labs do not apply to --source meds (the mapping says "
                              "which codes are variables)")
        from realm.data.meds import load_mapping, read_meds  # needs the meds extra
        from realm.data.meds.mapping import packaged_mapping

        return read_meds(root, load_mapping(mapping or packaged_mapping("realm_export")),
                         window_hours=window_hours, labels_dir=meds_labels, progress=progress)
    if source == "physionet2012":
        if labs is not None:
            raise ConfigError("--labs applies to MIMIC sources, not physionet2012")
        from realm.data.readers.physionet2012 import read_physionet2012

        return read_physionet2012(root, sets=sets, window_hours=window_hours, progress=progress,
                                  strict=strict)
    if sets is not None:
        raise ConfigError(f"--sets applies to physionet2012, not {source}")
    if source not in MIMIC_LAYOUTS:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    from realm.data.readers.mimic import read_mimic

    bad = {} if max_bad_fraction is None else {"max_bad_fraction": max_bad_fraction}
    return read_mimic(root, MIMIC_LAYOUTS[source], window_hours=window_hours, labs=labs,
                      progress=progress, strict=strict, **bad)


def attach_oracle(cohort: Cohort, path: Path) -> Cohort:
    """Attach the synthetic hospital's true risks (``TRUE_RISK.csv``) as ``cohort.oracle``
    and copy its designed ``SPLIT`` into ``stays.split``. Every stay must have a row."""
    if not path.is_file():
        raise DataError("synthetic hospital without its oracle file", path=path)
    table = pd.read_csv(path)
    for col in ORACLE_COLUMNS:
        if col not in table.columns:
            raise DataError("missing column", path=path, field=col)
    if table["ICUSTAY_ID"].duplicated().any():
        dup = table.loc[table["ICUSTAY_ID"].duplicated(), "ICUSTAY_ID"].iloc[0]
        raise DataError(f"ICUSTAY_ID {dup} appears twice", path=path, field="ICUSTAY_ID")
    bad = ~table["SPLIT"].isin(SPLITS)
    if bad.any():
        row = int(table.index[bad][0]) + 2  # 1-based, after the header
        raise DataError(f"unknown split {table['SPLIT'][bad].iloc[0]!r}", path=path, row=row,
                        field="SPLIT")
    indexed = table.set_index("ICUSTAY_ID")
    missing = ~cohort.stays["stay_id"].isin(indexed.index)
    if missing.any():
        raise DataError(f"{int(missing.sum())} stays have no oracle row "
                        f"(e.g. stay {cohort.stays.loc[missing, 'stay_id'].iloc[0]})",
                        path=path, field="ICUSTAY_ID")
    rows = indexed.loc[cohort.stays["stay_id"].to_numpy()]
    mismatch = rows["SUBJECT_ID"].to_numpy() != cohort.stays["subject_id"].to_numpy()
    if mismatch.any():
        raise DataError(f"stay {rows.index[mismatch][0]} names another subject than the cohort",
                        path=path, field="SUBJECT_ID")
    cohort.oracle = pd.DataFrame({
        "stay_id": rows.index.to_numpy().astype("int64"),
        "risk_mortality": rows["RISK_MORTALITY"].to_numpy(dtype="float64"),
        "risk_readmission_30d": rows["RISK_READMISSION"].to_numpy(dtype="float64"),
    })
    cohort.stays["split"] = pd.array(rows["SPLIT"].to_numpy(), dtype="string")
    return cohort


def _config(source: str, window_hours: float, seed: int, fractions: tuple[float, float, float],
            temporal: bool, sets: Sequence[str] | None,
            labs: Sequence[str] | None) -> dict[str, Any]:
    return {
        "version": PREPARE_VERSION,
        "source": source,
        "window_hours": float(window_hours),
        "seed": int(seed),
        # The synthetic hospital designs its own split; fractions, seed and temporal are
        # ignored there, and recording them would make equal cohorts hash differently.
        "fractions": list(fractions) if source != "synthetic" else None,
        "temporal": bool(temporal) if source != "synthetic" else None,
        "sets": None if sets is None else sorted(str(s) for s in sets),
        "labs": None if labs is None else list(labs),
    }


def _reusable(out: Path, key: str) -> bool:
    """Whether ``out`` holds a cohort prepared with the same inputs and configuration."""
    meta = out / "meta.json"
    if not meta.is_file():
        if out.exists() and any(out.iterdir()):
            raise DataError("refusing to replace a non-empty folder that is not a cohort",
                            path=out)
        return False
    try:
        return json.loads(meta.read_text()).get("cache_key") == key
    except (ValueError, OSError) as exc:
        log.warning("cannot reuse %s (%s); preparing it again", out, exc)
        return False


def prepare_cohort(
    source: str,
    root: Path,
    out: Path | None = None,
    *,
    window_hours: float = 48.0,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    temporal: bool = False,
    sets: Sequence[str] | None = None,
    labs: Sequence[str] | None = None,
    progress: bool = True,
    force: bool = False,
    strict: bool = False,
    mapping: Path | None = None,
    meds_labels: Path | None = None,
    max_bad_fraction: float | None = None,
) -> tuple[Cohort, Path]:
    """Read ``source`` under ``root``, assign splits, validate and save; return the cohort
    and its folder. ``out=None`` uses the cache; an existing cohort with the same input
    digest and configuration is loaded instead of re-read unless ``force``. ``strict``
    makes the reader raise :class:`DataError` at the first malformed row instead of
    counting it in ``quality.json`` and skipping it. ``source="meds"`` reads a MEDS dataset
    through a code ``mapping`` YAML (default: realm's own export) and takes labels from the
    MEDS label files under ``meds_labels`` (e.g. ACES output) or derives them from the codes;
    the dataset's own subject splits are kept. ``max_bad_fraction`` (MIMIC sources): a table
    file with more of its rows malformed than this is unreadable, not skipped row by row
    (default: the reader's, 0.5)."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if window_hours <= 0:
        raise ConfigError(f"window_hours must be positive, got {window_hours}")
    fractions = check_fractions(fractions)
    root = Path(root)
    if not root.is_dir():
        raise DataError("source folder not found", path=root)
    config = _config(source, window_hours, seed, fractions, temporal, sets, labs)
    if max_bad_fraction is not None:
        if source not in MIMIC_LAYOUTS:
            raise ConfigError(f"--max-bad-fraction applies to MIMIC sources, not {source}")
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ConfigError(f"--max-bad-fraction must lie in [0, 1], got {max_bad_fraction}")
        config["max_bad_fraction"] = max_bad_fraction
    if strict:
        # A cohort read leniently may have skipped rows that a strict read refuses; the
        # key of a lenient read stays what it always was.
        config["strict"] = True
    extra_inputs = [Path(p) for p in (mapping, meds_labels) if p is not None]
    if extra_inputs and source != "meds":
        raise ConfigError(f"--mapping and --labels apply to --source meds, not {source}")
    for path in extra_inputs:
        if not path.exists():
            raise DataError("not found", path=path)
    if extra_inputs:
        config["mapping"] = None if mapping is None else Path(mapping).name
        config["meds_labels"] = meds_labels is not None
    digest = inputs_digest([root, *extra_inputs])
    key = config_hash(source, digest, config)
    target = Path(out) if out is not None else stage_dir("cohort", key)
    if not force and _reusable(target, key):
        log.info("reusing the cohort prepared earlier at %s (same inputs and config)", target)
        return Cohort.load(target), target

    cohort = _read_source(source, root, window_hours=window_hours, sets=sets, labs=labs,
                          progress=progress, strict=strict, mapping=mapping, meds_labels=meds_labels,
                          max_bad_fraction=max_bad_fraction)
    if source == "synthetic":
        cohort = attach_oracle(cohort, root / ORACLE_FILE)
        split = assign_splits(cohort.stays, cohort.labels, column="split")
    elif source == "meds" and cohort.stays["split"].notna().all():
        split = assign_splits(cohort.stays, cohort.labels, column="split")  # the dataset's own
    else:
        split = assign_splits(cohort.stays, cohort.labels, fractions=fractions, seed=seed,
                              temporal=temporal)
    cohort.stays["split"] = split  # aligned on the stays index
    cohort.meta.update({"source": source, "window_hours": float(window_hours),
                        "input_digest": digest, "prepare": config, "cache_key": key})
    cohort.validate(window_hours)
    cohort.save(target)
    log.info("saved the %s cohort to %s", source, target)
    return cohort, target
