"""``realm extract``: a cohort's notes (and time series, and drug orders) -> linked ``mentions.parquet``.

The wiring layer of the extract stage, and the only module of it that imports realm.kg:
it loads the KG, builds the lexicon from its names, links LLM mentions with the KG's
linker, turns the lab-finding table into time-series findings, and, when the cohort has a
``medications`` table (MIMIC PRESCRIPTIONS, the synthetic hospital's), harmonizes each
ordered drug to KG drug nodes (realm.harmonize, offline KG backend) as mentions of extractor
``prescriptions``, type ``drug``, at the hour the order is known (never after the window)::

    realm extract --cohort data/cohort --extractor lexicon
    realm extract --cohort data/cohort --extractor llm --llm-config configs/llm/local_vllm.yaml
    realm extract --cohort data/cohort --extractor ensemble --ensemble-mode vote \\
        --llm-config configs/llm/local_vllm.yaml

Writes ``mentions.parquet`` (see realm.extract.mentions_table) and ``mentions_meta.json``
(KG version, extractor config, counts incl. hallucinations dropped) into the cohort folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from realm.cache import atomic_path
from realm.errors import ConfigError, KGError
from realm.extract.ensemble import MODES, EnsembleExtractor, extract_all
from realm.extract.findings import timeseries_findings
from realm.extract.mentions_table import conform_mentions, mentions_frame
from realm.kg.findings_table import resolve_rule_nodes
from realm.records import Mention

__all__ = ["register", "run_extract", "extract_args", "resolve_rule_nodes"]

log = logging.getLogger(__name__)

MENTIONS_FILE = "mentions.parquet"
META_FILE = "mentions_meta.json"


def _extractor(args: argparse.Namespace, kg: Any) -> tuple[Any, dict[str, Any]]:
    from realm.extract.lexicon import Lexicon, load_abbreviations, load_surface_variants
    from realm.extract.lexicon_extractor import LexiconExtractor
    from realm.config import config_dict
    from realm.extract.llm import LLMExtractor
    from realm.extract.llm_config import load_llm_config

    config: dict[str, Any] = {"extractor": args.extractor}
    members = []
    if args.extractor in ("lexicon", "ensemble"):
        lexicon = Lexicon.from_nodes(kg.nodes(), abbreviations=load_abbreviations(),
                                     variants=load_surface_variants())
        members.append(LexiconExtractor(lexicon))
        config["lexicon_terms"] = len(lexicon)
    if args.extractor in ("llm", "ensemble"):
        if args.llm_config is None:
            raise ConfigError(f"--extractor {args.extractor} needs --llm-config YAML")
        llm_config = load_llm_config(args.llm_config, progress=False if args.no_progress else None)
        llm = LLMExtractor.from_config(llm_config)
        members.append(llm)
        # the model section without kwargs: they may hold an api key
        config["llm"] = {"model_id": llm.model_id, "prompt_version": llm.cache_settings()["prompt"],
                         "schema_version": llm.cache_settings()["schema"], "mode": llm.client.mode,
                         **config_dict(llm_config.extractor)}
    if args.extractor == "ensemble":
        config["ensemble"] = {"mode": args.ensemble_mode, "min_votes": args.min_votes, "min_confidence": args.min_confidence}
        return EnsembleExtractor(members, args.ensemble_mode, args.min_votes, args.min_confidence), config
    return members[0], config


def _link(mentions: list[Mention], kg: Any, dense: bool, progress: bool) -> list[Mention]:
    """Link the mentions that have no node yet (lexicon mentions carry theirs)."""
    from realm.kg.linker import Linker, LinkerConfig

    todo = [i for i, m in enumerate(mentions) if m.node_id is None]
    if not todo:
        return mentions
    linker = Linker.from_kg(kg, config=LinkerConfig(dense=dense), progress=progress)
    linked = linker.link_mentions([mentions[i] for i in todo])
    out = list(mentions)
    for i, m in zip(todo, linked, strict=True):
        out[i] = m
    return out


def _prescription_mentions(medications: pd.DataFrame, kg: Any, window: float) -> pd.DataFrame:
    """Drug orders as mentions in the mentions-table columns (one per order and drug node)."""
    from realm.harmonize.prescriptions import prescriptions_to_mentions

    drugs = prescriptions_to_mentions(medications, kg, window_hours=window).drop(columns="hadm_id")
    # An order is a structured fact, not a reading of text: its confidence is the name match.
    drugs["confidence"] = drugs["link_score"]
    return conform_mentions(drugs)


def run_extract(args: argparse.Namespace) -> dict[str, Any]:
    """Run the command; returns the meta it wrote."""
    from realm.data.cohort import Cohort
    from realm.kg.findings_table import load_lab_findings
    from realm.kg.spec import load_kg

    progress = not args.no_progress
    tables = ("notes",) if args.no_timeseries else ("events", "notes")
    if not args.no_prescriptions:
        tables += ("medications",)
    cohort = Cohort.load(args.cohort, tables=tables)
    kg = load_kg(args.kg, progress=progress)
    extractor, config = _extractor(args, kg)
    notes = cohort.notes
    texts = [str(t) for t in notes["text"]]
    note_ids = [str(n) for n in notes["note_id"]]
    stay_ids = [int(s) for s in notes["stay_id"]]
    log.info("extracting from %d notes of %d stays with %s", len(texts), cohort.stays.shape[0], args.extractor)
    per_note = extract_all(extractor, texts, note_ids, stay_ids)
    mentions = _link([m for ms in per_note for m in ms], kg, args.linker == "dense", progress)
    note_hours = dict(zip(note_ids, (float(h) for h in notes["hours"]), strict=True))
    frames = [mentions_frame(mentions, note_hours)]
    window = float(args.window_hours if args.window_hours is not None else cohort.meta.get("window_hours", 48.0))
    counts: dict[str, Any] = {"notes": len(texts), "note_mentions": len(mentions),
                              "linked": sum(m.node_id is not None for m in mentions),
                              "assertions": dict(Counter(m.assertion.value for m in mentions))}
    if not args.no_timeseries:
        rules, missing = resolve_rule_nodes(load_lab_findings(args.lab_findings), kg)
        if missing:
            log.warning("%d lab-finding nodes are not in KG %s; their rules are skipped", len(missing), kg.name)
        findings = timeseries_findings(cohort.events, rules, window_hours=window)
        frames.append(findings)
        counts.update(timeseries_findings=len(findings), rules_without_node=missing)
    if cohort.medications is not None and not args.no_prescriptions:
        drugs = _prescription_mentions(cohort.medications, kg, window)
        frames.append(drugs)
        counts.update(prescription_mentions=len(drugs), prescriptions_linked=int(drugs["node_id"].notna().sum()))
    table = conform_mentions(pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True))
    stats = getattr(extractor, "stats", None) or next(
        (getattr(e, "stats", None) for e in getattr(extractor, "extractors", []) if getattr(e, "stats", None)), None)
    if stats is not None:
        counts["llm"] = stats.as_dict()
        counts["hallucinations_dropped"] = stats.hallucinations
    meta = {"kg": {"name": kg.name, "version": kg.version, "spec": str(args.kg)}, "window_hours": window,
            "linker": args.linker, "config": config, "counts": counts}
    out_dir = Path(args.out) if args.out is not None else Path(args.cohort)
    with atomic_path(out_dir / MENTIONS_FILE) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out_dir / META_FILE) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return meta


def _run(args: argparse.Namespace) -> int:
    meta = run_extract(args)
    counts = meta["counts"]
    out_dir = Path(args.out) if args.out is not None else Path(args.cohort)
    sys.stdout.write(
        f"{counts['note_mentions']} mentions from {counts['notes']} notes ({counts['linked']} linked), "
        f"{counts.get('timeseries_findings', 0)} time-series findings"
        + (f", {counts['prescription_mentions']} drug orders ({counts['prescriptions_linked']} linked)"
           if "prescription_mentions" in counts else "")
        + (f", {counts['hallucinations_dropped']} hallucinated entities dropped" if "hallucinations_dropped" in counts else "")
        + f"\n  -> {out_dir / MENTIONS_FILE}\n"
    )
    return 0


def extract_args(cohort: str | Path, **options: Any) -> argparse.Namespace:
    """``realm extract`` arguments for :func:`run_extract` from Python (notebooks, tests): the
    command's own parser supplies every default, so options added later keep theirs;
    ``options`` (names as attributes: ``no_timeseries=True``) override them."""
    parser = argparse.ArgumentParser(prog="realm extract")
    register(parser)
    args = parser.parse_args(["--cohort", str(cohort)])
    unknown = sorted(set(options) - set(vars(args)))
    if unknown:
        raise ConfigError(f"unknown realm extract option(s) {unknown}")
    for name, value in options.items():
        setattr(args, name, value)
    return args


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm extract`` arguments."""
    parser.add_argument("--cohort", required=True, type=Path, help="cohort folder (realm data prepare|synth)")
    parser.add_argument("--extractor", choices=("lexicon", "llm", "ensemble"), default="lexicon")
    parser.add_argument("--kg", default="default", help="built-in KG name or a KG spec YAML")
    parser.add_argument("--llm-config", type=Path, default=None, help="LLM config YAML (model: + extractor:)")
    parser.add_argument("--no-timeseries", action="store_true", help="skip lab/vital findings")
    parser.add_argument("--no-prescriptions", action="store_true",
                        help="skip drug orders (the cohort's medications table)")
    parser.add_argument("--lab-findings", type=Path, default=None, help="lab-finding table (default kg/lab_findings.csv)")
    parser.add_argument("--window-hours", type=float, default=None, help="default: the cohort's window (48 h)")
    parser.add_argument("--linker", choices=("dense", "dictionary"), default="dense",
                        help="how to link LLM mentions: dictionary + embeddings, or dictionary only")
    parser.add_argument("--ensemble-mode", choices=MODES, default="union")
    parser.add_argument("--min-votes", type=int, default=2)
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the cohort folder)")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_run)
