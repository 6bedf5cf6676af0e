"""Word substitutions learned from training annotations, and the term variants they make.

Annotators code ``wide nasal tip`` as *Broad nasal tip* and ``elongated fingers`` as *Long
fingers*: the note says one word where every dictionary surface of the id says another.
:func:`learn_substitutions` collects, from gold findings whose surface matches no surface of
their id, the one-word differences to a surface of that id of the same length (``wide`` for
``broad``), and keeps those seen for at least ``min_ids`` different ids — a pair that holds
across terms is a paraphrase habit of the notes, not one term's quirk.
:func:`substituted_terms` then writes each learned note word into every dictionary surface
holding the word it stands for (``Broad thumb`` -> ``wide thumb``), unless that surface
already names something, so a variant never shadows a real term.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from realm.errors import RealmError
from realm.extract.bag import FUNCTION_WORDS
from realm.bench.bc8.data import Observation
from realm.extract.lexicon import Term, norm_key

__all__ = ["learn_substitutions", "substituted_terms", "SOURCE"]

#: Term source of a substituted variant.
SOURCE = "substituted"
Resolver = Callable[[str], str]


def _content(text: str) -> tuple[str, ...]:
    return tuple(w for w in norm_key(text).split() if w not in FUNCTION_WORDS)


def learn_substitutions(
    observations: Sequence[Observation],
    terms: Iterable[Term],
    *,
    resolve: Resolver,
    min_ids: int = 2,
) -> dict[str, frozenset[str]]:
    """Dictionary word -> note words that stand for it (see the module docstring)."""
    surfaces: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for term in terms:
        if not term.case_sensitive and term.section is None:
            surfaces[term.node_id].add(_content(term.text))
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for obs in observations:
        for finding in obs.findings:
            try:
                node_id = resolve(finding.term)
            except RealmError:  # an id the dictionary cannot know
                continue
            said = _content(" ".join(obs.text[s:e] for s, e in finding.spans))
            known = surfaces.get(node_id, set())
            if not said or said in known:
                continue
            for surface in known:
                if len(surface) != len(said):
                    continue
                diff = [(a, b) for a, b in zip(said, surface) if a != b]
                # one differing word, in place ("wide nasal tip" / "broad nasal tip")
                if len(diff) == 1 and diff[0][0].isalpha() and diff[0][1].isalpha():
                    seen[diff[0]].add(node_id)
    out: dict[str, set[str]] = defaultdict(set)
    for (note_word, dict_word), ids in seen.items():
        if len(ids) >= min_ids:
            out[dict_word].add(note_word)
    return {k: frozenset(v) for k, v in out.items()}


def substituted_terms(terms: Iterable[Term], substitutions: dict[str, frozenset[str]]) -> list[Term]:
    """Variants of dictionary surfaces with one word replaced by a learned note word; a
    variant whose normalized surface is already a term's (of any id) is not made."""
    terms = list(terms)
    taken = {norm_key(t.text) for t in terms}
    out: dict[tuple[str, str], Term] = {}
    for term in terms:
        if term.case_sensitive or term.source not in ("name", "synonym"):
            continue
        words = norm_key(term.text).split()
        for i, word in enumerate(words):
            for note_word in substitutions.get(word, ()):
                key = " ".join(words[:i] + [note_word] + words[i + 1 :])
                if key not in taken:
                    out.setdefault((key, term.node_id), Term(key, term.node_id, term.type, SOURCE))
    # a variant two ids would share cannot be decided: keep neither
    ids_of: dict[str, set[str]] = defaultdict(set)
    for key, node_id in out:
        ids_of[key].add(node_id)
    return [t for (key, _), t in out.items() if len(ids_of[key]) == 1]


def compound_terms(terms: Iterable[Term], *, min_part: int = 3) -> list[Term]:
    """Variants that write a closed compound open and an open one closed: ``Upturned
    earlobe`` -> ``up turned earlobe``, ``upturned ear lobe``; ``finger pad`` -> ``fingerpad``.
    A word is split only into two words of the terms' own vocabulary; a variant whose surface
    is already a term's is not made."""
    terms = list(terms)
    taken = {norm_key(t.text) for t in terms}
    vocabulary = {w for key in taken for w in key.split() if w.isalpha()}
    splits: dict[str, str] = {}
    for word in vocabulary:
        parts = [
            f"{word[:i]} {word[i:]}"
            for i in range(min_part, len(word) - min_part + 1)
            if word[:i] in vocabulary and word[i:] in vocabulary and len(word[i:]) >= 3
        ]
        if len(parts) == 1:  # two ways to split a word is a guess
            splits[word] = parts[0]
    out: dict[tuple[str, str], Term] = {}
    for term in terms:
        if term.case_sensitive or term.source not in ("name", "synonym"):
            continue
        words = norm_key(term.text).split()
        keys = [" ".join(words[:i] + [splits[w]] + words[i + 1 :]) for i, w in enumerate(words) if w in splits]
        keys += [
            " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2 :])
            for i in range(len(words) - 1)
            if words[i].isalpha() and words[i + 1].isalpha() and words[i] + words[i + 1] in vocabulary
        ]
        for key in keys:
            if key not in taken:
                out.setdefault((key, term.node_id), Term(key, term.node_id, term.type, "compound"))
    ids_of: dict[str, set[str]] = defaultdict(set)
    for key, node_id in out:
        ids_of[key].add(node_id)
    return [t for (key, _), t in out.items() if len(ids_of[key]) == 1]
