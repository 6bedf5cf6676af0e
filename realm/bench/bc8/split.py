"""Split a BioCreative VIII Track 3 TSV into train/dev files by observation (seeded).

``realm bench bc8-split TSV --out-dir DIR [--dev-fraction 0.2] [--seed 0]`` writes
``DIR/train.tsv`` and ``DIR/dev.tsv``: develop on these, report on data never tuned on.
"""

from __future__ import annotations

from pathlib import Path

from realm.bench.bc8.data import read_bc8, split_observations, write_bc8

__all__ = ["split_file"]


def split_file(tsv: str | Path, out_dir: str | Path, *, dev_fraction: float = 0.2, seed: int = 0) -> tuple[Path, Path]:
    """Write ``train.tsv`` and ``dev.tsv`` under ``out_dir``; returns their paths."""
    train, dev = split_observations(read_bc8(tsv), dev_fraction=dev_fraction, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_bc8(train, out / "train.tsv"), write_bc8(dev, out / "dev.tsv")
