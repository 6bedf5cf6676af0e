"""Lexicon extractor throughput (notes/s, assertions included) on synthetic ICU-style notes.

    realm bench lexicon-throughput [--notes 2000] [--seed 0] [--obo PATH] [--workers 2] [--fuzzy] [--bags]

The lexicon is built over the HPO KG (``realm.kg.spec.load_kg("hpo")``, or an OBO file read
with obonet via ``obo``); notes are generated here from HPO names, ConText cues and
section templates, so the matcher sees realistic density of findings, negations and headers.
``fuzzy`` adds typo correction towards the lexicon's words; ``bags`` adds the
bag-of-words matcher of the BC8 default (:mod:`realm.extract.bag`) over the whole lexicon. ``workers`` > 1 extracts with N forked processes (the extractor is built once, before the
fork). Besides wall-clock notes/s the result holds ``cpu_notes_per_s`` (notes per CPU-second
of the extracting processes), which is what a shared, loaded machine can still measure.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realm.extract.bag import BagMatcher
from realm.extract.fuzzy import Speller
from realm.extract.lexicon import Lexicon, load_abbreviations
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.records import Node

__all__ = ["LexiconThroughputConfig", "run", "make_notes"]


@dataclass(frozen=True)
class LexiconThroughputConfig:
    """What ``realm bench lexicon-throughput`` measures.

    Args:
        notes: synthetic notes to extract from.
        seed: note generator seed.
        obo: an HPO OBO file to build the lexicon from (default: the ``hpo`` KG).
        fuzzy: correct typos (realm.extract.fuzzy.Speller).
        bags: add bag-of-words matches (realm.extract.bag).
        workers: processes to extract with (fork).
        out: optional JSON result file.
    """

    notes: int = 2000
    seed: int = 0
    obo: Path | None = None
    fuzzy: bool = False
    bags: bool = False
    workers: int = 1
    out: Path | None = None

_SECTIONS = ["HPI", "Past Medical History", "Family History", "Physical Exam", "Assessment and Plan"]
_CUES = ["", "", "", "no ", "denies ", "history of ", "possible ", "mother has "]
_FILLER = [
    "Patient seen and examined at bedside.",
    "Vitals: HR 112, BP 98/54, RR 22, SpO2 94% on 2L NC.",
    "Labs notable for lactate 3.1 and WBC 14.2.",
    "Continue current management, reassess in AM.",
    "Pt remains intubated and sedated, no acute events overnight.",
]


def _nodes(obo: Path | None) -> list[Node]:
    if obo:
        import obonet

        graph = obonet.read_obo(obo)
        syn = re.compile(r'^"([^"]*)"')
        return [
            Node(i, d["name"], "phenotype", tuple(m.group(1) for s in d.get("synonym", []) if (m := syn.match(s))))
            for i, d in graph.nodes(data=True)
            if "name" in d and i.startswith("HP:")
        ]
    from realm.kg.spec import load_kg

    return list(load_kg("hpo").nodes())


def make_notes(names: list[str], n: int, seed: int) -> list[str]:
    """``n`` notes of ~5 sections, each with filler sentences and 1-4 findings."""
    rng = random.Random(seed)
    notes = []
    for _ in range(n):
        parts = []
        for section in _SECTIONS:
            findings = ", ".join(rng.choice(_CUES) + rng.choice(names).lower() for _ in range(rng.randint(1, 4)))
            parts.append(f"{section}: {rng.choice(_FILLER)} {findings}. {rng.choice(_FILLER)}")
        notes.append("\n".join(parts))
    return notes


def _count(extractor: LexiconExtractor, notes: list[str]) -> tuple[int, float]:
    """Mentions found in ``notes`` and the CPU seconds this process spent on them."""
    t0 = time.process_time()
    mentions = sum(len(extractor.extract(note)) for note in notes)
    return mentions, time.process_time() - t0


def _run_workers(extractor: LexiconExtractor, notes: list[str], workers: int) -> tuple[int, float]:
    """:func:`_count` over ``workers`` forked processes, one contiguous chunk each."""
    size = -(-len(notes) // workers)
    chunks = [notes[i : i + size] for i in range(0, len(notes), size)]
    # fork: each child inherits the built extractor and its chunk; only counts come back
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()
    procs = [ctx.Process(target=lambda c=chunk: queue.put(_count(extractor, c))) for chunk in chunks]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def run(cfg: LexiconThroughputConfig) -> dict[str, Any]:
    """Build the lexicon, extract from the notes; returns the figures (also written to ``cfg.out``)."""
    nodes = _nodes(cfg.obo)
    t0 = time.perf_counter()
    lexicon = Lexicon.from_nodes(nodes, abbreviations=load_abbreviations())
    extractor = LexiconExtractor(
        lexicon,
        speller=Speller(lexicon.vocabulary()) if cfg.fuzzy else None,
        bags=BagMatcher(lexicon) if cfg.bags else None,
    )
    build_s = time.perf_counter() - t0
    notes = make_notes([n.name for n in nodes], cfg.notes, cfg.seed)
    t0 = time.perf_counter()
    if cfg.workers > 1:
        mentions, cpu_s = _run_workers(extractor, notes, cfg.workers)
    else:
        mentions, cpu_s = _count(extractor, notes)
    elapsed = time.perf_counter() - t0
    result = {
        "notes": len(notes),
        "mean_chars": sum(map(len, notes)) / len(notes),
        "mentions": mentions,
        "lexicon_terms": len(extractor.lexicon),
        "build_s": round(build_s, 2),
        "workers": cfg.workers,
        "fuzzy": cfg.fuzzy,
        "bags": cfg.bags,
        "notes_per_s": round(len(notes) / elapsed, 1),
        "cpu_notes_per_s": round(len(notes) / cpu_s, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if cfg.out:
        cfg.out.write_text(json.dumps(result, indent=2))
    return result
