"""The built-in synthetic hospital and its lexicon mentions, each made once and cached.

The demo and ``realm bench synthetic`` share these steps. Each result lives under
``$REALM_CACHE`` in a folder keyed by its inputs and by a digest of the code that computes it,
so changed code never reuses a stale result and an unchanged one is never computed twice.
"""

from __future__ import annotations

from pathlib import Path

from realm.cache import atomic_dir, config_hash, inputs_digest, stage_dir
from realm.kg.embedders import DEFAULT_EMBEDDER

__all__ = ["cached_hospital", "cached_mentions", "code_digest"]

_PACKAGE = Path(__file__).resolve().parents[1]


def code_digest(*parts: str) -> str:
    """Digest of the code behind a step (paths relative to the package): changed code must not
    reuse a cached result."""
    return inputs_digest([_PACKAGE / p for p in parts])


def cached_hospital(n_stays: int, seed: int) -> Path:
    """The synthetic hospital of ``n_stays`` stays and ``seed``, written once into the cache."""
    # Only the synthetic hospital's own code and resource files: an edit to another resource
    # (a harmonizer table) must not re-synthesize it.
    synth = sorted(str(p.relative_to(_PACKAGE)) for p in _PACKAGE.glob("data/synth*.py"))
    synth += sorted(str(p.relative_to(_PACKAGE)) for p in _PACKAGE.glob("resources/synth_*"))
    key = config_hash("synth", n_stays, seed, code_digest(*synth))
    folder = stage_dir("demo_hospital", key)
    if not (folder / "TRUE_RISK.csv").is_file():
        # Imported only here: the simulator's vocabulary loads ICD-10-CM (seconds), which a
        # warm run never needs.
        from realm.data.synth import write_synthetic_hospital

        write_synthetic_hospital(folder, n_stays=n_stays, seed=seed)
    return folder


def cached_mentions(cohort_dir: Path, cohort_key: str, kg: str, kg_version: str,
                    progress: bool, relink_types: tuple[str, ...] = (),
                    embedder: str = DEFAULT_EMBEDDER) -> Path:
    """``mentions.parquet`` of the cohort (lexicon + dictionary links + findings; the mentions
    of ``relink_types`` linked again by the dense linker through the KG's Chroma index of those
    types, embedded with ``embedder``), extracted once per (cohort, KG version, linking,
    extraction code) into the cache; ``mentions_meta.json`` beside it records how."""
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    # The extractor's rule tables (realm/resources) are inputs too: a new abbreviation row
    # must re-extract. The whole folder, so a table added later cannot be forgotten here.
    linking = (sorted(relink_types), embedder if relink_types else None)
    key = config_hash("lexicon", cohort_key, kg_version, linking,
                      code_digest("extract", "pipeline/extract.py", "kg/linker.py", "kg/findings_table.py",
                                  "kg/index.py", "kg/embedders.py", "harmonize", "resources"))
    folder = stage_dir("demo_mentions", key)
    if not (folder / "mentions.parquet").is_file():
        with atomic_dir(folder) as tmp:
            extract_mentions(cohort_dir, kg, ExtractConfig(
                extractor="lexicon", linker="dense" if relink_types else "dictionary",
                relink_types=tuple(relink_types), embedder=embedder, progress=progress), out=tmp)
    return folder / "mentions.parquet"
