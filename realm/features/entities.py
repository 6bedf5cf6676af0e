"""The entity-set modality: linked KG entities of each stay as padded tensors.

:class:`EntityProvider` reads ``mentions.parquet`` (written by ``realm extract`` next to
the cohort) or, for cohorts without notes (PhysioNet 2012), derives the time-series
findings itself with the lab-finding rules (the same rows ``realm extract`` would write).
Per stay it keeps the ``max_entities`` most informative entities, deterministically (most
mentions, then best link score, then earliest, then node id; never random sampling), and
adds to each batch (E = most entities in the batch, at least 1)::

    entities_vectors (B, E, node_dim)  [text ; struct] vectors of the nodes
    entities_type (B, E) long          0 = padding, 1.. = realm.records.NODE_TYPES, then other
    entities_assertion (B, E) long     0 = padding, 1.. = realm.records.Assertion order
    entities_numbers (B, E, 7)         log1p(count), first hour / window, link score, then
                                       for time-series findings (0 for note mentions):
                                       log1p(severity), fraction of measurements abnormal,
                                       last abnormal hour / window, tanh(last excess)
    entities_mask (B, E) bool          entities_node (B, E) long: row in ``node_ids``, -1 pad

Entities are concepts (:meth:`KnowledgeGraph.concept_of`): every linked node is replaced by
its concept before the sets are built, so a stay that names ICD-10 ``R18`` and one that names
MeSH ``D001201`` (one concept, Ascites) share one entity, one token and one vector. A concept's
vector is the mean of its codes' vectors rather than its representative's: each vocabulary's
codes carry their own hierarchy (``ancestors`` puts an ICD-10 code next to its category's
other codes), and the mean keeps that for a concept whatever node represents it.

Node vectors are unsupervised functions of the KG (no label ever shapes them): ``text``
embeds :func:`realm.kg.node_embeddings.node_text` (name, definition, relations), so a node
never seen in training still lands near its siblings; ``ancestors`` hashes the node and its
``is_a`` ancestors (ancestors weighted above the node) into signed buckets, so ICD-10 codes of one
category share most of their vector; ``transe`` takes the KG's TransE vectors
(realm.kg.node_embeddings, whole KG, slow on big graphs). Each kind gets an equal share of
``node_dim``; wider vectors are reduced by a fixed seeded Gaussian projection. They are
cached per (KG version, nodes, settings); that key is the ``node_embedding_id`` the model
stores.

With ``ancestor_depth`` > 0 every linked note mention also counts as a mention of its
linked node's ``is_a`` ancestors up to that depth (link score ``ancestor_decay ** depth`` times
the mention's; a mention counts once per node): a held-out code that only ever appears in test
notes (``bronchopneumonia``) then also brings the parent its training siblings share, whose
token the model has learnt, instead of only a node vector it has never been trained on.
With ``ancestor_backoff`` (``realm bench synthetic``'s setting) only nodes that no training
stay mentions get ancestors, and only ancestors some training stay mentions: training sets
stay as they were, and the entity count barely grows (60.8 -> 60.9 per synthetic stay).

Finding values are scaled per lab-finding rule so one number means the same for every
node: the *excess* of a value beyond the rule's threshold (in the abnormal direction)
is divided by the median excess of the worst values among the train-split stays with that
finding. ``severity`` is the worst value's scaled excess (1 = a typical worst value of the
train stays; rules mapping to one node take the most severe); ``last excess`` is the last
measured value's, negative once the value is back in range (the finding has resolved).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from realm.cache import atomic_dir, config_hash, stage_dir
from realm.data.dataset import ModalityProvider, pad_sets
from realm.errors import ConfigError, DataError, KGError
from realm.extract.mentions_table import entity_sets, mentions_meta
from realm.features.schema import N_ENTITY_NUMBERS
from realm.kg.spec import load_kg
from realm.records import Assertion, EntitySet, NODE_TYPES

__all__ = ["EntityProvider", "select_entities", "ancestor_vectors", "finding_numbers", "with_ancestors",
           "on_concepts", "EMBEDDING_KINDS"]

log = logging.getLogger(__name__)

EMBEDDING_KINDS = ("text", "ancestors", "transe")
_ASSERTION_CODE = {a: i + 1 for i, a in enumerate(Assertion)}
_TYPE_CODE = {t: i + 1 for i, t in enumerate(NODE_TYPES)}
_OTHER_TYPE = len(NODE_TYPES) + 1
_EMBED_VERSION = 2  # bump when the vector recipe changes (2: one vector per concept)


def select_entities(entities: EntitySet, max_entities: int, present_only: bool) -> list[int]:
    """Indices of the entries kept: most mentions, best link score, earliest, node id."""
    rows = [i for i in range(len(entities))
            if not present_only or entities.assertions[i] is Assertion.PRESENT]
    hour = [h if np.isfinite(h) else float("inf") for h in entities.first_hours]
    rows.sort(key=lambda i: (-entities.counts[i], -entities.link_scores[i], hour[i],
                             entities.node_ids[i], entities.assertions[i].value))
    return sorted(rows[:max_entities], key=lambda i: (hour[i], entities.node_ids[i]))


_FINDING_VALUES = ("direction", "threshold", "worst_value", "n_abnormal", "n_measured", "last_hour", "last_value")


def finding_numbers(mentions: pd.DataFrame, train_stays: set[int],
                    window_hours: float) -> dict[tuple[int, str], tuple[float, float, float, float]]:
    """(stay, node) -> (log1p(severity), fraction abnormal, last abnormal hour / window,
    tanh(last excess)) for the time-series findings in ``mentions`` (see the module
    docstring); empty when the table has no finding values (note mentions only)."""
    if any(c not in mentions.columns for c in _FINDING_VALUES):
        return {}
    f = mentions[mentions["extractor"].astype("string").eq("timeseries").fillna(False)
                 & mentions["node_id"].notna() & mentions["worst_value"].notna()]
    if f.empty:
        return {}
    f = f.assign(threshold=f["threshold"].astype("float64"), worst=f["worst_value"].astype("float64"),
                 last=f["last_value"].astype("float64"), stay=f["stay_id"].astype("int64"))
    sign = np.where(f["direction"].astype("string").eq("high"), 1.0, -1.0)
    worst_excess = sign * (f["worst"] - f["threshold"])  # > 0 by construction
    last_excess = sign * (f["last"] - f["threshold"])  # <= 0 once back in range
    rule = f["variable"].astype(str) + ":" + f["direction"].astype(str)
    in_train = f["stay"].isin(train_stays)
    scale = worst_excess[in_train].groupby(rule[in_train]).median()
    # a rule never seen in train (or with zero excess) keeps raw units: nothing to scale by
    scale = rule.map(scale).astype("float64").where(lambda x: x > 0, 1.0).fillna(1.0)
    frame = pd.DataFrame({
        "stay": f["stay"], "node": f["node_id"].astype(str), "severity": worst_excess / scale,
        "last_excess": last_excess / scale, "n_abnormal": f["n_abnormal"].astype("float64"),
        "n_measured": f["n_measured"].astype("float64"), "last_hour": f["last_hour"].astype("float64"),
    })
    grouped = frame.groupby(["stay", "node"]).agg(
        severity=("severity", "max"), last_excess=("last_excess", "max"), n_abnormal=("n_abnormal", "sum"),
        n_measured=("n_measured", "sum"), last_hour=("last_hour", "max"))
    fraction = grouped["n_abnormal"] / grouped["n_measured"].clip(lower=1.0)
    hour = grouped["last_hour"].fillna(0.0).clip(0.0, window_hours) / window_hours
    return {(int(k[0]), k[1]): (float(np.log1p(sev)), float(fr), float(h), float(np.tanh(le)))
            for k, sev, fr, h, le in zip(grouped.index, grouped["severity"], fraction, hour,
                                         grouped["last_excess"])}


def _is_a_ancestors(kg, node_id: str, depth: int) -> dict[str, int]:
    """``is_a`` ancestors of ``node_id`` within ``depth`` steps -> their nearest depth."""
    found: dict[str, int] = {}
    frontier, seen = {node_id}, {node_id}
    for d in range(1, depth + 1):
        frontier = {o for n in frontier for _, o in kg.neighbors(n, "is_a")} - seen
        seen |= frontier
        found.update({a: d for a in frontier})
    return found


def with_ancestors(mentions: pd.DataFrame, kg, depth: int, decay: float = 0.5,
                   types: tuple[str, ...] | None = ("disease",),
                   known: set[str] | None = None) -> pd.DataFrame:
    """``mentions`` plus, for every linked note mention, one row per ``is_a`` ancestor of its
    node within ``depth`` steps (``link_score * decay ** d``, the ancestor's KG type). A mention
    keeps one row per node: a parent it also links to directly keeps the direct, higher score,
    so ancestors never inflate a node's mention count. Only mentions whose type is in ``types``
    (None: all) get ancestors: disease hierarchies (ICD-10 chapters, MeSH trees) group codes
    by condition, while phenotype and drug trees would add many generic nodes per stay.
    Time-series findings and other rows without a note span are left as they are (their
    numbers belong to the node they name).

    With ``known`` (the nodes of the training stays) it is a back-off instead: only mentions
    of nodes outside ``known`` get ancestors, and only ancestors inside it, so the training
    sets are unchanged and a node never trained on also brings the trained nodes above it."""
    if depth < 1 or mentions.empty or not {"note_id", "spans"} <= set(mentions.columns):
        return mentions  # off, or findings derived from the series (no note mentions)
    is_note = mentions["node_id"].notna() & mentions["note_id"].notna() & mentions["spans"].notna()
    notes = mentions[is_note]
    expand = notes if types is None else notes[notes["type"].astype("string").isin(types).fillna(False)]
    if known is not None:
        expand = expand[~expand["node_id"].astype(str).isin(known)]
    pairs = []
    for node in sorted(set(expand["node_id"].astype(str))):
        try:
            resolved = kg.resolve(node)
        except KGError:
            continue  # EntityProvider.setup names the unknown node; nothing to add here
        pairs += [(node, anc, d, kg.node(anc).type) for anc, d in _is_a_ancestors(kg, resolved, depth).items()
                  if known is None or anc in known]
    if not pairs:
        return mentions
    table = pd.DataFrame(pairs, columns=["node_id", "_ancestor", "_depth", "_type"])
    added = expand.assign(node_id=expand["node_id"].astype(str)).merge(table, on="node_id")
    added = added.assign(node_id=added["_ancestor"], type=added["_type"],
                         link_score=added["link_score"].astype("float64").fillna(1.0) * decay ** added["_depth"])
    added = added.drop(columns=["_ancestor", "_depth", "_type"]).astype(notes.dtypes.to_dict())
    key = ["stay_id", "note_id", "spans", "assertion", "node_id"]
    merged = (pd.concat([notes, added], ignore_index=True)
              .sort_values("link_score", ascending=False, kind="stable").drop_duplicates(key))
    return pd.concat([mentions[~is_note], merged], ignore_index=True)


def on_concepts(mentions: pd.DataFrame, kg) -> pd.DataFrame:
    """``mentions`` with each linked ``node_id`` (aliases resolved) replaced by its concept id,
    also written to ``concept_id``; a node the KG lacks is a :class:`KGError` naming a stay."""
    linked = mentions["node_id"].notna()
    concept: dict[str, str] = {}
    for node, stay in mentions.loc[linked].groupby(mentions.loc[linked, "node_id"].astype(str))["stay_id"].first().items():
        try:
            concept[node] = kg.concept_of(node)
        except KGError as exc:
            raise KGError(f"stay {stay}: entity node {node!r} is not in KG {kg.name!r} (version "
                          f"{kg.version}); re-run realm extract") from exc
    ids = mentions["node_id"].astype("string").map(concept).astype("string")
    return mentions.assign(node_id=ids, concept_id=ids)


def _bucket(text: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return h % dim, 1.0 if (h >> 63) & 1 else -1.0


def ancestor_vectors(kg, ids: list[str], dim: int, depth: int = 4, decay: float = 0.8,
                     self_weight: float = 0.6) -> np.ndarray:
    """(N, dim) signed feature hashing of each node (``self_weight``) and its is_a ancestors
    (``decay ** (d - 1)`` at depth d): the ancestors outweigh the node itself, so a code never
    seen in training lands next to its seen siblings."""
    out = np.zeros((len(ids), dim), dtype=np.float32)
    for row, node_id in enumerate(ids):
        frontier, seen = {node_id}, {node_id}
        for d in range(depth + 1):
            for anc in sorted(frontier):
                col, sign = _bucket(anc, dim)
                out[row, col] += sign * (self_weight if d == 0 else decay ** (d - 1))
            frontier = {o for n in frontier for r, o in kg.neighbors(n) if r == "is_a"} - seen
            seen |= frontier
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _project(vectors: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """A fixed Gaussian random projection to ``dim`` (identity when already that wide)."""
    if vectors.shape[1] != dim:
        rng = np.random.default_rng(seed)
        vectors = vectors @ rng.normal(0, 1 / np.sqrt(dim), (vectors.shape[1], dim))
    vectors = vectors.astype(np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class EntityProvider(ModalityProvider):
    """Linked KG entities of every stay, as padded tensors (see the module docstring).

    Args:
        source: ``mentions`` (read ``mentions_file``) or ``findings`` (lab-finding rules on
            the cohort's events; for cohorts without notes).
        mentions_file: the mentions table, relative to the cohort folder or absolute.
        kg: built-in KG name or KG spec YAML the mentions were linked against.
        lab_findings: lab-finding table for ``findings`` (default ``kg/lab_findings.csv``).
        embedding_kinds: node vector kinds, from ``text``, ``ancestors``, ``transe``.
        embedder: text embedder name (realm.kg.embedders: onnx, minilm, hashing).
        node_dim: width of the node vectors (linked into ``RealmModel.node_dim`` by the CLI).
        max_entities: most entities kept per stay.
        include_assertions: False keeps only present entities (ablation).
        window_hours: prediction window; findings after it are never used.
        seed: seed of the fixed random projections.
        ancestor_depth: also count each linked note mention as a mention of its node's
            ``is_a`` ancestors up to this depth (0: off; see the module docstring).
        ancestor_decay: an ancestor's link score is the mention's times ``decay ** depth``.
        ancestor_types: mention types whose nodes get ancestor mentions (None: all).
        ancestor_backoff: only nodes no training stay mentions get ancestors, and only
            ancestors some training stay mentions (see :func:`with_ancestors`).
    """

    name = "entities"

    def __init__(
        self,
        source: Literal["mentions", "findings"] = "mentions",
        mentions_file: str = "mentions.parquet",
        kg: str = "default",
        lab_findings: str | None = None,
        embedding_kinds: list[str] = ["text", "ancestors"],  # noqa: B006 - copied, never mutated
        embedder: str = "onnx",
        node_dim: int = 128,
        max_entities: int = 32,
        include_assertions: bool = True,
        window_hours: float = 48.0,
        seed: int = 0,
        ancestor_depth: int = 0,
        ancestor_decay: float = 0.5,
        ancestor_types: tuple[str, ...] | None = ("disease",),
        ancestor_backoff: bool = False,
    ) -> None:
        if source not in ("mentions", "findings"):
            raise ConfigError(f"EntityProvider source must be 'mentions' or 'findings', not {source!r}")
        unknown = [k for k in embedding_kinds if k not in EMBEDDING_KINDS]
        if not embedding_kinds or unknown:
            raise ConfigError(f"embedding_kinds must be a non-empty subset of {EMBEDDING_KINDS}; got {embedding_kinds}")
        if max_entities < 1 or node_dim < len(embedding_kinds):
            raise ConfigError(f"need max_entities >= 1 and node_dim >= {len(embedding_kinds)}")
        if ancestor_depth < 0 or not 0.0 < ancestor_decay <= 1.0:
            raise ConfigError(f"need ancestor_depth >= 0 and 0 < ancestor_decay <= 1; got "
                              f"{ancestor_depth}, {ancestor_decay}")
        self.source, self.mentions_file, self.kg_spec = source, mentions_file, kg
        self.lab_findings = lab_findings
        self.embedding_kinds, self.embedder = list(embedding_kinds), embedder
        self.node_dim, self.max_entities = node_dim, max_entities
        self.include_assertions, self.window_hours, self.seed = include_assertions, window_hours, seed
        self.ancestor_depth, self.ancestor_decay = ancestor_depth, ancestor_decay
        self.ancestor_types = None if ancestor_types is None else tuple(ancestor_types)
        self.ancestor_backoff = ancestor_backoff
        self.kg_version: str | None = None
        self.node_embedding_id: str | None = None
        self.node_ids: list[str] = []
        self._table = torch.zeros(0, node_dim)
        self._sets: dict[int, tuple[Tensor, Tensor, Tensor, Tensor]] = {}

    # -- setup -----------------------------------------------------------------------------
    def _mentions(self, cohort_dir: Path, kg) -> pd.DataFrame:
        if self.source == "findings":
            from realm.data.cohort import Cohort
            from realm.kg.findings_table import resolve_rule_nodes
            from realm.extract.findings import timeseries_findings
            from realm.kg.findings_table import load_lab_findings

            rules, missing = resolve_rule_nodes(load_lab_findings(self.lab_findings), kg)
            if missing:
                log.warning("%d lab-finding nodes are not in the KG; their rules are skipped", len(missing))
            events = Cohort.load(cohort_dir, tables=("events",)).events
            return timeseries_findings(events, rules, window_hours=self.window_hours)
        path = Path(self.mentions_file)
        path = path if path.is_absolute() else cohort_dir / path
        if not path.is_file():
            raise DataError("no mentions table; run `realm extract --cohort` on the cohort first", path=path)
        meta = mentions_meta(path)
        if meta is not None:
            linked = meta.get("kg", {}).get("version")
            if linked is not None and linked != kg.version:
                raise KGError(f"{path} was linked against KG version {linked}, but EntityProvider "
                              f"loads KG {self.kg_spec!r} version {kg.version}; re-run realm extract")
        mentions = pd.read_parquet(path)
        hours = mentions["hours"].astype("float64")
        return mentions[hours.isna() | (hours <= self.window_hours)]  # never look past the window

    def _vectors(self, kg, ids: list[str]) -> np.ndarray:
        settings = {"kinds": self.embedding_kinds, "embedder": self.embedder, "dim": self.node_dim,
                    "seed": self.seed, "version": _EMBED_VERSION}
        key = config_hash(kg.version, ids, settings)
        self.node_embedding_id = key
        folder = stage_dir("entity_nodes", key)
        if (folder / "vectors.npy").is_file():
            return np.load(folder / "vectors.npy")
        shares = [self.node_dim // len(self.embedding_kinds)] * len(self.embedding_kinds)
        shares[-1] += self.node_dim - sum(shares)
        parts = []
        for k, (kind, dim) in enumerate(zip(self.embedding_kinds, shares)):
            if kind == "text":
                from realm.kg.embedders import get_embedder
                from realm.kg.node_embeddings import node_text

                raw = get_embedder(self.embedder).embed([node_text(kg, i) for i in ids])
            elif kind == "ancestors":
                raw = ancestor_vectors(kg, ids, dim)
            else:
                from realm.kg.node_embeddings import node_embeddings

                all_ids, matrix = node_embeddings(kg, kind="struct", progress=False)
                pos = {n: r for r, n in enumerate(all_ids)}
                raw = matrix[[pos[i] for i in ids]]
            parts.append(_project(raw, dim, self.seed + k))
        vectors = np.concatenate(parts, axis=1).astype(np.float32)
        with atomic_dir(folder) as tmp:
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "meta.json").write_text(json.dumps({"kg_version": kg.version, "ids": ids, **settings}))
        return vectors

    def _concept_vectors(self, kg, concepts: list[str]) -> np.ndarray:
        """One vector per concept: the mean of its codes' vectors (see the module docstring)."""
        codes = sorted({code for c in concepts for code in kg.concept_codes(c)})
        vectors = self._vectors(kg, codes)
        row = {code: r for r, code in enumerate(codes)}
        return np.stack([vectors[[row[code] for code in kg.concept_codes(c)]].mean(axis=0)
                         for c in concepts]).astype(np.float32)

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        if self._sets:
            return
        kg = load_kg(self.kg_spec, progress=False)
        self.kg_version = kg.version
        mentions = self._mentions(Path(cohort_dir), kg)
        stays = pd.read_parquet(Path(cohort_dir) / "stays.parquet", columns=["stay_id", "split"])
        train = set(stays.loc[stays["split"].astype("string").eq("train").fillna(False), "stay_id"].astype(int))
        # The back-off's known nodes come from the training stays' mentions only (no labels).
        known = (set(mentions.loc[mentions["stay_id"].isin(train) & mentions["node_id"].notna(), "node_id"].astype(str))
                 if self.ancestor_backoff else None)
        mentions = with_ancestors(mentions, kg, self.ancestor_depth, self.ancestor_decay, self.ancestor_types, known)
        mentions = on_concepts(mentions, kg)
        sets = entity_sets(mentions)
        values = finding_numbers(mentions, train, self.window_hours)
        no_values = (0.0,) * (N_ENTITY_NUMBERS - 3)
        kept = {int(s): select_entities(sets[int(s)], self.max_entities, not self.include_assertions)
                for s in stay_ids if int(s) in sets}
        #: the concepts of the kept entities (rows of the vector table)
        self.node_ids = sorted({sets[stay].node_ids[i] for stay, rows in kept.items() for i in rows})
        row_of = {n: r for r, n in enumerate(self.node_ids)}
        self._table = torch.from_numpy(self._concept_vectors(kg, self.node_ids)) if self.node_ids \
            else torch.zeros(0, self.node_dim)
        for stay in (int(s) for s in stay_ids):
            es, rows = sets.get(stay), kept.get(stay, [])
            if es is None or not rows:
                self._sets[stay] = (torch.zeros(0, dtype=torch.long),) * 3 + (torch.zeros(0, N_ENTITY_NUMBERS),)
                continue
            nodes = torch.tensor([row_of[es.node_ids[i]] for i in rows])
            types = torch.tensor([_TYPE_CODE.get(es.types[i], _OTHER_TYPE) for i in rows])
            assertions = torch.tensor([_ASSERTION_CODE[es.assertions[i]] for i in rows])
            hours = [es.first_hours[i] if np.isfinite(es.first_hours[i]) else 0.0 for i in rows]
            numbers = torch.tensor([[np.log1p(es.counts[i]), min(h, self.window_hours) / self.window_hours,
                                     es.link_scores[i], *values.get((stay, es.node_ids[i]), no_values)]
                                    for i, h in zip(rows, hours)], dtype=torch.float32)
            self._sets[stay] = (nodes, types, assertions, numbers)
        log.info("entities: %d concepts over %d stays (%d with none), KG %s", len(self.node_ids),
                 len(self._sets), sum(len(v[0]) == 0 for v in self._sets.values()), kg.version)

    # -- batches ---------------------------------------------------------------------------
    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        try:
            items = [self._sets[int(s)] for s in stay_ids]
        except KeyError as exc:
            raise DataError(f"stay {exc.args[0]} was not set up (call setup first)", field="stay_id") from None
        nodes, mask = pad_sets([i[0] for i in items], pad_value=-1)  # (B, E), (B, E)
        types, _ = pad_sets([i[1] for i in items])  # (B, E)
        assertions, _ = pad_sets([i[2] for i in items])  # (B, E)
        numbers, _ = pad_sets([i[3] for i in items])  # (B, E, 7)
        vectors = self._table[nodes.clamp(min=0)] * mask.unsqueeze(-1) if len(self._table) \
            else torch.zeros(*nodes.shape, self.node_dim)  # (B, E, node_dim)
        return {"vectors": vectors, "type": types, "assertion": assertions, "numbers": numbers,
                "mask": mask, "node": nodes}
