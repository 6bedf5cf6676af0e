"""Entity linking: mention text -> KG node, in two stages joined by :class:`Candidate`.

Candidate generation, in order of trust:

1. the dictionary: the mention's normalised form (case, punctuation, whitespace, unicode
   accents, British spellings, simple plurals) equals a node name (``exact``) or synonym
   (``synonym``); a bag-of-words match of the same tokens in another order (``reordered``);
2. the abbreviation table ``realm/resources/abbreviations.csv`` (KG-independent): the
   expansion is looked up in the dictionary, or embedded in place of the short form;
3. dense retrieval from the :class:`~realm.kg.index.VectorIndex` (optional type filter),
   re-ranked by blending cosine with lexical similarity (character trigrams, token overlap).

Candidates are concepts (:meth:`KnowledgeGraph.concept_of`): nodes joined as one concept are
one candidate, the best-scoring node standing for it, so a top-5 lists five different
concepts. The decision step (:meth:`Linker.link_mention`) keeps the best candidate, sets the
mention's node, concept and codes, and abstains when its cosine is below ``threshold``. This is how BioCreative VIII Track 3 normalisers worked:
dictionary expansion and synonyms first, embeddings for the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from realm.errors import ConfigError
from realm.kg.embedders import TextEmbedder, get_embedder
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import NumpyIndex, VectorIndex, build_index, check_index
from realm.records import Mention
from realm.resources import read_rule_table, resource_path

__all__ = [
    "Candidate",
    "LinkerConfig",
    "Linker",
    "normalize",
    "query_variants",
    "lexical_similarity",
    "load_abbreviations",
]

log = logging.getLogger(__name__)

# British -> American spellings seen in clinical text; whole-stem rewrites, not a general "ae"->"e".
_SPELLING = [
    (re.compile(r"\bhaem"), "hem"),
    (re.compile(r"aemia\b"), "emia"),
    (re.compile(r"aemic\b"), "emic"),
    (re.compile(r"\boe(?=dem|sophag|strogen)"), "e"),
    (re.compile(r"\bpaed"), "ped"),
    (re.compile(r"\bfoet"), "fet"),
    (re.compile(r"\b(tum|col|behavi|hum)our\b"), r"\1or"),
    (re.compile(r"\bgynaec"), "gynec"),
    (re.compile(r"\bleukaem"), "leukem"),
]
_IRREGULAR = {
    "feet": "foot",
    "teeth": "tooth",
    "children": "child",
    "phalanges": "phalanx",
    "vertebrae": "vertebra",
    "digits": "digit",
    "bullae": "bulla",
}
_STOP = {"the", "a", "an"}
# Exam notes name a finding to say it is absent or normal ("no hypertelorism", "normal lids");
# the finding, not the cue, is what links (BioCreative VIII normalises negated findings too).
_NEGATION_CUES = ("no", "not", "without", "negative for", "denies", "absent")
_NORMAL_CUES = ("normal", "normally", "unremarkable")


def _singular(token: str) -> str:
    if token in _IRREGULAR:
        return _IRREGULAR[token]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is", "ous")):
        return token[:-1]
    return token


def normalize(text: str) -> str:
    """The dictionary key of ``text``: lower case, no accents or punctuation, American
    spelling, singular tokens, single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^\w]+|_", " ", text)
    for pattern, repl in _SPELLING:
        text = pattern.sub(repl, text)
    return " ".join(_singular(t) for t in text.split() if t not in _STOP)


def query_variants(text: str) -> list[str]:
    """``text``, then without a leading negation cue, then "normal X" read as "abnormal X"."""
    variants = [text]
    words = " ".join(text.split())
    low = words.lower()
    for cue in _NEGATION_CUES:
        if low.startswith(cue + " ") and len(low) > len(cue) + 1:
            variants.append(words[len(cue) + 1 :])
    for cue in _NORMAL_CUES:
        if low.startswith(cue + " ") and len(low) > len(cue) + 1:
            variants.append("abnormal " + words[len(cue) + 1 :])
    return variants


def _trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def lexical_similarity(a: str, b: str) -> float:
    """Mean of character-trigram Dice and token Jaccard over normalised strings, in [0, 1]."""
    na, nb = normalize(a), normalize(b)
    ta, tb = _trigrams(na), _trigrams(nb)
    dice = 2 * len(ta & tb) / (len(ta) + len(tb)) if ta and tb else 0.0
    wa, wb = set(na.split()), set(nb.split())
    jac = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
    return 0.5 * (dice + jac)


def load_abbreviations(path: str | Path | None = None) -> dict[str, str]:
    """Normalised abbreviation -> expansion, from the packaged CSV (or ``path``)."""
    table: dict[str, str] = {}
    rows = read_rule_table(resource_path("abbreviations.csv") if path is None else path,
                           ("abbreviation", "expansion"))
    for row in rows:
        if not row.get("abbreviation") or not row.get("expansion"):
            raise ConfigError(f"{row.path} row {row.line}: needs 'abbreviation' and 'expansion'")
        table[normalize(row.get("abbreviation"))] = row.get("expansion")
    return table


@dataclass(frozen=True)
class Candidate:
    """One proposed node for a mention.

    ``method``: exact | synonym | reordered | abbreviation | dense.

    ``score`` ranks candidates (dictionary hits 1.0; dense hits cosine blended with lexical
    similarity); ``cosine`` is the embedding similarity the abstention threshold reads.
    ``concept_id`` and ``codes`` are the node's concept and every code of it.
    """

    node_id: str
    name: str
    type: str
    score: float
    matched: str
    method: str
    cosine: float = 1.0
    concept_id: str = ""
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkerConfig:
    """Tunable knobs (tuned values belong in YAML; defaults come from the bc8 tuning split)."""

    threshold: float = 0.6  # cosine under which link_mention abstains
    lexical_weight: float = 0.2  # lexical share of the dense re-rank (bc8 tuning split: 0.2 best)
    dense_k: int = 40  # index hits fetched per query before grouping by node
    dense: bool = True  # False = dictionary + abbreviations only (the exact baseline)
    abbreviations: bool = True


_DICT_SCORES = {"exact": 1.0, "synonym": 0.99, "reordered": 0.97, "abbreviation": 0.96}


class Linker:
    """Links mention text to nodes of one KG; see the module docstring for the stages."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        embedder: TextEmbedder | None,
        index: VectorIndex | None,
        config: LinkerConfig | None = None,
        abbreviations: dict[str, str] | None = None,
    ) -> None:
        self.kg, self.embedder, self.index = kg, embedder, index
        self.config = config or LinkerConfig()
        if self.config.dense:
            if embedder is None or index is None:
                raise ConfigError("a dense Linker needs an embedder and an index (or dense=False)")
            check_index(index, kg, embedder)  # never link against a stale index
        self.abbreviations = load_abbreviations() if abbreviations is None else abbreviations
        # key -> [(node id, matched string, method)]: names before synonyms, nodes in id order
        self._exact: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._bag: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for node in kg.nodes():
            for i, text in enumerate((node.name, *node.synonyms)):
                key = normalize(text)
                if key:
                    self._exact[key].append((node.id, text, "synonym" if i else "exact"))
                    self._bag[" ".join(sorted(key.split()))].append((node.id, text, "reordered"))

    @classmethod
    def from_kg(
        cls,
        kg: KnowledgeGraph,
        *,
        embedder: TextEmbedder | None = None,
        index: VectorIndex | None = None,
        config: LinkerConfig | None = None,
        progress: bool = False,
    ) -> Linker:
        """The one-line path to a linker for any KG (builds an in-memory index if none given)."""
        config = config or LinkerConfig()
        if config.dense:
            embedder = embedder or get_embedder()
            if index is None:
                index = NumpyIndex()
                build_index(kg, embedder, index, progress=progress)
        return cls(kg, embedder, index, config)

    # -- candidate generation -----------------------------------------------------------------
    def _candidate(
        self, node_id: str, score: float, matched: str, method: str, cosine: float = 1.0
    ) -> Candidate:
        node = self.kg.node(node_id)
        concept = self.kg.concept_of(node_id)
        return Candidate(node_id, node.name, node.type, score, matched, method, cosine,
                         concept, self.kg.concept_codes(concept))

    def _dictionary(self, text: str, type: str | None) -> list[Candidate]:
        hits: list[tuple[str, str, str]] = []
        for variant in query_variants(text):
            key = normalize(variant)
            hits += self._exact.get(key, [])
            hits += self._bag.get(" ".join(sorted(key.split())), [])
            if self.config.abbreviations and key in self.abbreviations:
                exp = normalize(self.abbreviations[key])
                hits += [(n, m, "abbreviation") for n, m, _ in self._exact.get(exp, ())]
        out: dict[str, Candidate] = {}  # concept -> its best candidate
        for node_id, matched, method in hits:
            cand = self._candidate(node_id, _DICT_SCORES[method], matched, method)
            if (type is None or cand.type == type) and _better(cand, out.get(cand.concept_id)):
                out[cand.concept_id] = cand
        return sorted(out.values(), key=lambda c: -c.score)  # stable: names before synonyms

    def _expand(self, text: str) -> str:
        """``text`` with every abbreviation token replaced by its expansion (for the embedder)."""
        if not self.config.abbreviations:
            return text
        return " ".join(self.abbreviations.get(normalize(t), t) for t in text.split())

    def _dense(self, texts: list[str], type: str | None) -> list[list[Candidate]]:
        if self.embedder is None or self.index is None:  # only when config.dense is False
            return [[] for _ in texts]
        # The last variant is the most specific reading (cue removed, "normal" -> "abnormal").
        queries = [self._expand(query_variants(t)[-1]) for t in texts]
        vectors = self.embedder.embed(queries)
        where = {"type": type} if type else None
        out = []
        all_hits = self.index.query(vectors, self.config.dense_k, where)
        for text, query, hits in zip(texts, queries, all_hits, strict=True):
            best: dict[str, Candidate] = {}
            for cos, meta in zip(hits.scores, hits.metadatas, strict=True):
                matched = str(meta.get("text", ""))
                lex = max(lexical_similarity(text, matched), lexical_similarity(query, matched))
                w = self.config.lexical_weight
                score = (1 - w) * cos + w * lex
                node_id = str(meta["node_id"])
                if node_id in self.kg:
                    cand = self._candidate(node_id, score, matched, "dense", cos)
                    if _better(cand, best.get(cand.concept_id)):
                        best[cand.concept_id] = cand
            out.append(sorted(best.values(), key=lambda c: (-c.score, c.node_id)))
        return out

    # -- public API ---------------------------------------------------------------------------
    def link_batch(
        self, texts: Sequence[str], type: str | None = None, k: int = 5
    ) -> list[list[Candidate]]:
        """Up to ``k`` candidates per text, best first (dictionary hits, then dense hits)."""
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        results = [self._dictionary(t, type) for t in texts]
        if self.config.dense:
            need = [i for i, r in enumerate(results) if len(r) < k]
            for i, dense in zip(need, self._dense([texts[i] for i in need], type), strict=True):
                have = {c.concept_id for c in results[i]}
                results[i] += [c for c in dense if c.concept_id not in have]
        return [r[:k] for r in results]

    def link(self, text: str, type: str | None = None, k: int = 5) -> list[Candidate]:
        """Up to ``k`` candidates for one mention text, best first."""
        return self.link_batch([text], type, k)[0]

    def decide(self, candidates: Sequence[Candidate]) -> Candidate | None:
        """The decision step: the best candidate, or None when its cosine is under the threshold."""
        if not candidates or candidates[0].cosine < self.config.threshold:
            return None
        return candidates[0]

    def link_mention(self, mention: Mention, *, use_type: bool = True) -> Mention:
        """A copy of ``mention`` with ``node_id``, ``link_score``, ``concept_id`` and ``codes``
        set (None and () when it abstains)."""
        type_ = mention.type if use_type and mention.type in self._types else None
        return _linked(mention, self.decide(self.link(mention.text, type_, k=1)))

    @cached_property
    def _types(self) -> set[str]:
        return {n.type for n in self.kg.nodes()}

    def link_mentions(self, mentions: Sequence[Mention]) -> list[Mention]:
        """:meth:`link_mention` over many mentions, embedding all dense queries in one batch."""
        by_type: dict[str | None, list[int]] = defaultdict(list)
        for i, m in enumerate(mentions):
            by_type[m.type if m.type in self._types else None].append(i)
        out: list[Mention | None] = [None] * len(mentions)
        for type_, idx in by_type.items():
            cands_per = self.link_batch([mentions[i].text for i in idx], type_, k=1)
            for i, cands in zip(idx, cands_per, strict=True):
                out[i] = _linked(mentions[i], self.decide(cands))
        return [m for m in out if m is not None]


def _better(cand: Candidate, held: Candidate | None) -> bool:
    """Whether ``cand`` should stand for its concept instead of ``held`` (first wins ties)."""
    return held is None or cand.score > held.score


def _linked(mention: Mention, best: Candidate | None) -> Mention:
    if best is None:
        return dataclasses.replace(mention, node_id=None, link_score=None, concept_id=None, codes=())
    return dataclasses.replace(mention, node_id=best.node_id, link_score=best.score,
                               concept_id=best.concept_id, codes=best.codes)
