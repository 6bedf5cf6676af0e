"""Loaders: files in PrimeKG, nodes/edges CSV, OBO or networkx form -> KnowledgeGraph.

Each loader takes its file paths plus keyword options and a :class:`LoadReport`, and
returns a :class:`realm.kg.graph.KnowledgeGraph`; :data:`LOADERS` names them for specs.
"""

from realm.kg.loaders.nxfile import load_networkx
from realm.kg.loaders.obo import load_obo
from realm.kg.loaders.primekg import load_primekg
from realm.kg.loaders.report import LoadReport, clean_text
from realm.kg.loaders.tables import load_tables, write_tables

__all__ = ["LOADERS", "LoadReport", "clean_text", "load_obo", "load_primekg", "load_tables", "write_tables", "load_networkx"]

#: loader name (as written in a KG spec YAML) -> loader function
LOADERS = {
    "csv": load_tables,
    "primekg": load_primekg,
    "obo": load_obo,
    "networkx": load_networkx,
}
