"""The built-in synthetic hospital (``realm data synth``): a MIMIC-III v1.4-format database.

:func:`write_synthetic_hospital` writes the upper-case CSV tables with the exact v1.4
column names, so the demo runs through the same MIMIC-III reader real users run, plus the
ground truth beside them: ``TRUE_RISK.csv`` (each stay's true outcome probabilities and its
designed split), ``NOTE_MENTIONS.csv`` (every planted mention with character offsets),
``STAY_CONDITIONS.csv`` and ``SYNTH_README.md`` (the latent model with its parameters).

The pieces live in ``synth_vocab`` (vocabulary), ``synth_cohort`` (population and outcomes),
``synth_series`` (chart and lab events), ``synth_notes`` (notes, mentions, prescriptions) and
``synth_tables`` (the MIMIC tables and the README). Independent random streams feed each
piece, so the same seed gives the same bytes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from realm.cache import atomic_dir
from realm.data.synth_cohort import simulate_population
from realm.data.synth_notes import write_notes
from realm.data.synth_series import chart_and_lab_events
from realm.data.synth_tables import build_tables, write_csv, write_readme
from realm.data.synth_vocab import load_synth_vocab
from realm.errors import ConfigError

__all__ = ["write_synthetic_hospital", "MIMIC3_TABLES", "TRUTH_FILES"]

log = logging.getLogger(__name__)

#: The MIMIC-III tables written (file stem = table name).
MIMIC3_TABLES: tuple[str, ...] = (
    "PATIENTS", "ADMISSIONS", "ICUSTAYS", "CHARTEVENTS", "LABEVENTS", "NOTEEVENTS", "D_ITEMS",
    "D_LABITEMS", "DIAGNOSES_ICD", "PRESCRIPTIONS",
)
#: The ground-truth files written beside them.
TRUTH_FILES: tuple[str, ...] = ("TRUE_RISK.csv", "NOTE_MENTIONS.csv", "STAY_CONDITIONS.csv", "SYNTH_README.md")


def write_synthetic_hospital(out: Path, n_stays: int = 1000, seed: int = 0) -> Path:
    """Write a synthetic MIMIC-III v1.4 database of ``n_stays`` ICU stays into ``out``.

    The folder is replaced atomically. Same ``seed`` and ``n_stays``, same bytes.
    Returns ``out``.
    """
    if int(n_stays) < 1:
        raise ConfigError(f"n_stays must be at least 1, got {n_stays}")
    if int(seed) < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    started = time.perf_counter()
    vocab = load_synth_vocab()
    # One child stream per stage: changing how notes are written never changes the vitals.
    cohort_rng, series_rng, notes_rng, table_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4))
    pop = simulate_population(int(n_stays), vocab, cohort_rng)
    chart, lab = chart_and_lab_events(pop.stays, series_rng)
    notes = write_notes(pop.stays, pop.conditions, vocab, notes_rng)
    tables = build_tables(pop, chart, lab, notes, vocab, table_rng)
    out = Path(out)
    with atomic_dir(out) as tmp:
        for name, frame in tables.items():
            write_csv(frame, tmp / f"{name}.csv")
        write_readme(tmp / "SYNTH_README.md", pop, n_stays=int(n_stays), seed=int(seed))
        tmp.chmod(0o755)
    log.info("wrote a synthetic hospital of %d stays to %s in %.1f s", n_stays, out,
             time.perf_counter() - started)
    return out
