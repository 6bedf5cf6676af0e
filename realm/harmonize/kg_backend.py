"""The offline backend: answers from the knowledge graph and three reviewable rule tables.

- generic name: the string is matched against KG ``drug`` node names and variants, first
  whole, then with strength/form words removed, then as a combination ("A-B", "A/B"),
  then by its longest leading words; common IV-fluid abbreviations (NS, D5W, LR) come
  from ``realm/resources/harmonize_fluids.csv`` (their ingredients are then looked up as KG
  drug nodes, so an order of "NS" still names the sodium chloride node).
- route: ``realm/resources/route_classes.csv`` (exact, after case/space normalisation).
- binary classes: a drug is "yes" when it, or an ``is_a`` ancestor, is an anchor of the
  task in ``realm/resources/harmonize_class_anchors.csv`` (MeSH classes of the DrugNER
  dictionaries and WHO ATC classes of ``kg/drug_classes.csv``), "no" when it has
  ancestors and none is an anchor, and "unsure" when the KG gives it no class at all.

Anything not found is :data:`UNSURE`, never a silent guess.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from realm.errors import ConfigError
from realm.harmonize.answers import Answer
from realm.harmonize.tasks import BINARY_TASKS, UNSURE, HarmonizeTask, normalize_generic
from realm.kg.graph import KnowledgeGraph
from realm.resources import RuleRow, read_rule_table, resource_path

__all__ = ["KGBackend", "DrugMatch"]

# Tokens that describe strength, form or packaging, never the active ingredient.
_FORM_WORDS = {
    "tab", "tabs", "tablet", "tablets", "cap", "caps", "capsule", "capsules", "liquid", "liq", "soln", "solution",
    "susp", "suspension", "oral", "elixir", "syrup", "neb", "nebulizer", "inhaler", "mdi", "diskus", "cream",
    "ointment", "oint", "gel", "jelly", "lotion", "powder", "patch", "spray", "drops", "ophth", "opht",
    "ophthalmic", "nasal", "enema", "supp", "suppository", "iv", "ivpb", "inj", "injection", "vial", "bag",
    "syringe", "sr", "xr", "xl", "er", "cr", "ec", "ir", "dr", "odt", "la", "extended", "release", "sustained",
    "immediate", "delayed", "concentrated", "viscous", "sprinkles", "pf", "p", "f", "mini", "plus", "glass",
    "bottle", "generic", "flush", "lock", "mg", "mcg", "g", "gm", "ml", "units", "unit", "meq", "hr", "in",
}
_NUMBER = re.compile(r"^[\d.,:%/]+(mg|mcg|g|gm|ml|meq|%)?$")
_MIN_PREFIX_CHARS = 4  # a one-word prefix match needs at least this many letters ("ns" is not enough)


@dataclass(frozen=True)
class DrugMatch:
    """KG drug node(s) matched for a string; several for a combination product."""

    node_ids: tuple[str, ...]
    generic: str
    score: float  # 1.0 whole string, 0.9 after removing form words, 0.8 by leading words
    fluid: dict[str, str] | None = None  # the fluid-table row when matched there


def _table(path: str | Path | None, packaged: str, required: tuple[str, ...]) -> list[RuleRow]:
    """A rule table: the user's ``path``, else the packaged ``packaged``."""
    return read_rule_table(Path(path) if path else resource_path(packaged), required)


def _key(text: str) -> str:
    return " ".join(text.lower().replace("*nf*", " ").split())


class KGBackend:
    """Rule-and-KG harmonizer; build once per KG, then call :meth:`answer`."""

    name = "kg"

    def __init__(
        self,
        kg: KnowledgeGraph,
        *,
        routes: str | Path | None = None,
        fluids: str | Path | None = None,
        anchors: str | Path | None = None,
    ) -> None:
        self.kg = kg
        self.routes = {" ".join(r.get("route").upper().split()): r.get("route_class") for r in
                       _table(routes, "route_classes.csv", ("route", "route_class"))}
        self.fluids = {" ".join(r.get("term").upper().split()): dict(r.values) for r in
                       _table(fluids, "harmonize_fluids.csv", ("term", "generic_name", "iv_fluid", "electrolyte"))}
        self.anchors: dict[str, set[str]] = defaultdict(set)
        for row in _table(anchors, "harmonize_class_anchors.csv", ("task", "node_id")):
            if row.get("task") not in BINARY_TASKS:
                raise ConfigError(f"{row.path} row {row.line}: class anchors: unknown task {row.get('task')!r}")
            # An anchor the KG lacks cannot be an ancestor; dropping it keeps "no" honest: a KG
            # holding no class of a task answers "unsure" for it, never "no".
            if row.get("node_id") in kg:
                self.anchors[row.get("task")].add(row.get("node_id"))
        # Name/variant -> drug node ids; a string naming two different drugs is ambiguous.
        self._names: dict[str, set[str]] = defaultdict(set)
        for node in kg.nodes("drug"):
            for text in (node.name, *node.synonyms):
                self._names[_key(text)].add(node.id)
        self._ancestors: dict[str, frozenset[str]] = {}

    # -- drug names -------------------------------------------------------------------------
    def _lookup(self, text: str) -> str | None:
        ids = self._names.get(_key(text))
        return next(iter(ids)) if ids and len(ids) == 1 else None

    @staticmethod
    def _strip_forms(text: str) -> str:
        text = re.sub(r"\([^)]*\)", " ", _key(text))
        words = [w for w in re.split(r"[\s]+", text) if w]
        kept = [w for w in words if w.strip(".,") not in _FORM_WORDS and not _NUMBER.match(w)]
        return " ".join(w.strip(".,") for w in kept)

    def _single(self, text: str) -> tuple[str, float] | None:
        """One ingredient: whole, then without form words, then by longest leading words."""
        if node := self._lookup(text):
            return node, 1.0
        stripped = self._strip_forms(text)
        if stripped and (node := self._lookup(stripped)):
            return node, 0.9
        words = stripped.split()
        for n in range(len(words) - 1, 0, -1):
            prefix = " ".join(words[:n])
            if (n > 1 or len(prefix) >= _MIN_PREFIX_CHARS) and (node := self._lookup(prefix)):
                return node, 0.8
        return None

    def match_drug(self, text: str) -> DrugMatch | None:
        """The KG drug(s) a DRUG string names, or ``None`` when not confidently found."""
        fluid = self.fluids.get(" ".join(text.upper().split()))
        if fluid is not None:
            parts = [self._lookup(p) for p in fluid["generic_name"].split(" / ")]
            nodes = tuple(dict.fromkeys(p for p in parts if p))
            return DrugMatch(nodes, normalize_generic(fluid["generic_name"]), 1.0, fluid)
        single = self._single(text)
        if single is not None:
            node, score = single
            return DrugMatch((node,), normalize_generic(self.kg.node(node).name), score)
        # A combination product: every ingredient must be found, else no answer.
        body = re.sub(r"\([^)]*\)", " ", _key(text))
        parts = [p for p in re.split(r"\s*(?:/|-|\bw/)\s*", body) if p.strip()]
        if len(parts) < 2:
            return None
        found = [self._single(p) for p in parts]
        if any(f is None for f in found):
            return None
        nodes = tuple(dict.fromkeys(f[0] for f in found if f))
        generic = normalize_generic(" / ".join(self.kg.node(n).name for n in nodes))
        return DrugMatch(nodes, generic, min(f[1] for f in found if f))

    # -- classes ----------------------------------------------------------------------------
    def ancestors(self, node_id: str) -> frozenset[str]:
        """Every ``is_a`` ancestor of ``node_id`` (memoised per backend)."""
        if node_id not in self._ancestors:
            seen: set[str] = set()
            frontier = [node_id]
            while frontier:
                current = frontier.pop()
                for _, parent, data in self.kg.graph.out_edges(current, data=True):
                    if data.get("relation") == "is_a" and parent not in seen:
                        seen.add(parent)
                        frontier.append(parent)
            self._ancestors[node_id] = frozenset(seen)
        return self._ancestors[node_id]

    def _binary(self, task: str, match: DrugMatch) -> str:
        if match.fluid is not None:
            # The fluid table lists plain solutions: only its own two columns can be "yes".
            return match.fluid.get(task) or "no"
        anchors = self.anchors.get(task, set())
        votes = []
        for node in match.node_ids:
            above = self.ancestors(node)
            if anchors & ({node} | above):
                votes.append("yes")
            elif anchors and above:
                votes.append("no")
            else:
                votes.append(UNSURE)
        if "yes" in votes:
            return "yes"
        return "no" if votes and all(v == "no" for v in votes) else UNSURE

    # -- the backend call -------------------------------------------------------------------
    def answer(self, text: str, task: HarmonizeTask) -> Answer:
        """The KG's answer for one string (``UNSURE`` when it does not know)."""
        if task.name == "route":
            value = self.routes.get(" ".join(text.upper().split()), UNSURE)
            return Answer(value, 1.0 if value != UNSURE else 0.0, 1)
        if task.name != "generic_name" and task.name not in BINARY_TASKS:
            raise ConfigError(f"the kg backend answers only the built-in tasks, not {task.name!r}; use --backend llm")
        match = self.match_drug(text)
        if match is None:
            return Answer(UNSURE, 0.0, 1)
        node_id = "|".join(match.node_ids) or None
        value = match.generic if task.name == "generic_name" else self._binary(task.name, match)
        return Answer(value, 1.0 if value != UNSURE else 0.0, 1, node_id=node_id, link_score=match.score)
