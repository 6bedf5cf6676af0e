"""A KG for CLI tests: nodes/edges CSV text written beside a KG spec YAML."""

from __future__ import annotations

from pathlib import Path

#: A five-node KG: diseases, a phenotype with an HPO xref, a drug with a brand synonym.
NODES = """id,name,type,synonyms,definition,source,xrefs
T:sepsis,Sepsis,disease,septicemia,,tiny,
T:pneumonia,Pneumonia,disease,,,tiny,
T:aki,Acute kidney injury,disease,acute renal failure,,tiny,
T:hyperk,Hyperkalemia,phenotype,high potassium,,tiny,HP:0002153
T:norepi,Norepinephrine,drug,levophed,,tiny,
"""
EDGES = "source,target,relation,source_vocab\nT:sepsis,T:aki,has_phenotype,tiny\n"


def write_csv_kg(folder: Path, nodes: str, edges: str, *, name: str = "tiny") -> Path:
    """Write ``nodes.csv``, ``edges.csv`` and a strict CSV-loader spec under ``folder``; returns the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nodes.csv").write_text(nodes)
    (folder / "edges.csv").write_text(edges)
    spec = folder / f"{name}.yaml"
    spec.write_text(f"name: {name}\nstrict: true\nsources:\n  - loader: csv\n    nodes: nodes.csv\n    edges: edges.csv\n")
    return spec
