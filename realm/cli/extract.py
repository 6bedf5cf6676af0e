"""``realm extract``: a cohort's notes (and time series, and drug orders) -> linked ``mentions.parquet``.

    realm extract --cohort data/cohort --extractor lexicon
    realm extract --cohort data/cohort --extractor llm --llm-config configs/llm/local_vllm.yaml
    realm extract --cohort data/cohort --extractor ensemble --ensemble-mode vote \\
        --llm-config configs/llm/local_vllm.yaml

Parses the options into an :class:`~realm.pipeline.extract.ExtractConfig` and calls
:func:`~realm.pipeline.extract.extract_mentions`, which writes ``mentions.parquet`` and
``mentions_meta.json`` (and for an LLM run ``mentions_llm.json``, whose one-line summary it
prints) into the cohort folder (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from realm.extract.ensemble import MODES
from realm.extract.mentions_table import mentions_meta
from realm.kg.embedders import EMBEDDERS
from realm.pipeline.extract import LLM_COUNTS_FILE, ExtractConfig, extract_mentions

__all__ = ["register"]

#: The defaults of every option come from the config, so the two cannot disagree.
DEFAULTS = ExtractConfig()


def _run(args: argparse.Namespace) -> int:
    cfg = ExtractConfig(extractor=args.extractor, linker=args.linker, link_threshold=args.link_threshold,
                        lexical_weight=args.lexical_weight, llm_config=args.llm_config,
                        timeseries=not args.no_timeseries, prescriptions=not args.no_prescriptions,
                        lab_findings=args.lab_findings, window_hours=args.window_hours,
                        ensemble_mode=args.ensemble_mode, min_votes=args.min_votes,
                        min_confidence=args.min_confidence, embedder=args.embedder,
                        relink_types=tuple(t.strip() for t in (args.relink_types or "").split(",") if t.strip()),
                        progress=not args.no_progress)
    path = extract_mentions(args.cohort, args.kg, cfg, out=args.out)
    counts = (mentions_meta(path) or {})["counts"]
    sys.stdout.write(
        f"{counts['note_mentions']} mentions from {counts['notes']} notes ({counts['linked']} linked), "
        f"{counts.get('timeseries_findings', 0)} time-series findings"
        + (f", {counts['prescription_mentions']} drug orders ({counts['prescriptions_linked']} linked)"
           if "prescription_mentions" in counts else "")
        + (f", {counts['hallucinations_dropped']} hallucinated entities dropped" if "hallucinations_dropped" in counts else "")
        + f"\n  -> {path}\n"
    )
    llm_counts = path.with_name(LLM_COUNTS_FILE)
    if cfg.extractor != "lexicon" and llm_counts.is_file():
        sys.stdout.write(json.loads(llm_counts.read_text(encoding="utf-8"))["summary"] + f"\n  -> {llm_counts}\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm extract`` arguments."""
    parser.add_argument("--cohort", required=True, type=Path, help="cohort folder (realm data prepare|synth)")
    parser.add_argument("--extractor", choices=("lexicon", "llm", "ensemble"), default=DEFAULTS.extractor)
    parser.add_argument("--kg", default="default", help="built-in KG name or a KG spec YAML")
    parser.add_argument("--llm-config", type=Path, default=None, help="LLM config YAML (model: + extractor:)")
    parser.add_argument("--no-timeseries", action="store_true", help="skip lab/vital findings")
    parser.add_argument("--no-prescriptions", action="store_true",
                        help="skip drug orders (the cohort's medications table)")
    parser.add_argument("--lab-findings", type=Path, default=None, help="lab-finding table (default kg/lab_findings.csv)")
    parser.add_argument("--window-hours", type=float, default=None, help="default: the cohort's window (48 h)")
    parser.add_argument("--linker", choices=("dense", "dictionary"), default=DEFAULTS.linker,
                        help="how to link LLM mentions: dictionary + embeddings, or dictionary only")
    parser.add_argument("--link-threshold", type=float, default=None,
                        help="cosine under which the dense linker abstains (default: the linker's)")
    parser.add_argument("--lexical-weight", type=float, default=None,
                        help="lexical share of the dense re-rank (default: the linker's)")
    parser.add_argument("--relink-types", default=None,
                        help="comma-separated node types whose lexicon mentions the linker links again "
                             "(dense: through the KG's Chroma index of those types, built on first use)")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default=DEFAULTS.embedder,
                        help="text embedder of the dense linker's index")
    parser.add_argument("--ensemble-mode", choices=MODES, default=DEFAULTS.ensemble_mode)
    parser.add_argument("--min-votes", type=int, default=DEFAULTS.min_votes)
    parser.add_argument("--min-confidence", type=float, default=DEFAULTS.min_confidence)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the cohort folder)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_run)
