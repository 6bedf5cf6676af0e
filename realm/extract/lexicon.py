"""A dictionary of surface terms matched with one Aho-Corasick automaton.

Text and terms are normalized the same way: case folded, accents stripped, every character
that is not a letter or digit turned into a space, runs of spaces collapsed. An offset map
takes every normalized character back to the original, so matches are reported as spans of
the text the caller gave (``"Low-set  EARS"`` matches the term ``low set ears``). Keys are
padded with spaces, so every match starts and ends on a token boundary; overlapping matches
are resolved leftmost-longest.

The lexicon is built from :class:`realm.records.Node` iterables (names and synonyms), never
from a knowledge graph object: extraction comes before the KG stage.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import ahocorasick

from realm.errors import ConfigError
from realm.records import Assertion, Node
from realm.resources import read_rule_table, resource_path
from realm.resources.words import is_stop_surface

__all__ = ["Term", "LexiconMatch", "Lexicon", "NormalizedText", "abbreviated_variants", "crosses_break", "normalize",
           "load_abbreviations", "load_surface_variants", "is_symbol", "SYMBOL_TYPES"]

#: Normalized terms shorter than this are dropped (single letters, "ii", ...) unless they
#: come from the abbreviation table, which is matched case-sensitively.
MIN_TERM_CHARS = 3

#: Node types whose names are symbols (HGNC gene symbols are written in capitals and many
#: spell English words: WAS, NEB, CAT, SET): their surfaces match only as written.
SYMBOL_TYPES = frozenset({"gene"})

_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9-]*")


def is_symbol(text: str, node_type: str) -> bool:
    """True for a surface that is a symbol, matched only case-sensitively: any surface of a
    :data:`SYMBOL_TYPES` node, and short single-token codes of capitals and digits ("WAS",
    "C3", "HLA-B") of any node, which written lower-case are ordinary words."""
    return node_type in SYMBOL_TYPES or (len(text) <= 6 and _SYMBOL.fullmatch(text) is not None)


@dataclass(frozen=True)
class Term:
    """One surface form of a node.

    ``section`` restricts a term to one section (organ-scoped forms such as ``low set``
    under ``EARS:``); ``assertion`` is set for surfaces that carry their own assertion
    (``normal lips`` is a negated lip abnormality); ``case_sensitive`` for abbreviations.
    """

    text: str
    node_id: str
    type: str
    source: str = "name"
    section: str | None = None
    assertion: Assertion | None = None
    case_sensitive: bool = False


@dataclass(frozen=True)
class LexiconMatch:
    """A match: half-open offsets into the original text and every term with that surface."""

    start: int
    end: int
    terms: tuple[Term, ...]


def _fold_char(ch: str) -> str:
    """One character in, one character out, so normalized offsets stay aligned."""
    if ch.isascii():
        return ch.lower() if ch.isalnum() else " "
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    low = base.lower()
    if len(low) == 1 and low.isalnum():
        return low
    if not ch.isalnum():
        return " "
    # letters whose folding changes length (e.g. the dotted capital I) are kept lower-cased
    # where possible, else as they are
    return ch.lower() if len(ch.lower()) == 1 else ch


_ASCII_FOLD = {i: (chr(i).lower() if chr(i).isalnum() else " ") for i in range(128)}
_TOKEN = re.compile(r"\S+")


@lru_cache(maxsize=1 << 16)
def stem(token: str) -> str:
    """A light plural stemmer (after Harman's S-stemmer): 'ears' -> 'ear', 'anomalies' ->
    'anomaly', 'conjunctivae' -> 'conjunctiva'. Short tokens and '-ss'/'-us' are kept."""
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and not token.endswith(("eies", "aies")):
        return token[:-3] + "y"
    if token.endswith("es") and not token.endswith(("aes", "ees", "oes")):
        return token[:-1]
    if token.endswith("ae") and len(token) > 4:
        return token[:-1]
    if token.endswith("s") and not token.endswith(("us", "ss", "is")):
        return token[:-1]
    return token


def _fold(text: str) -> str:
    return text.translate(_ASCII_FOLD) if text.isascii() else "".join(map(_fold_char, text))


def normalize(text: str) -> tuple[str, list[int], list[int]]:
    """Normalized text, and per normalized character its start and end offsets in ``text``.

    Tokens are folded and stemmed (:func:`stem`) and joined by single spaces. A match over
    normalized characters ``[i, j)`` covers ``text[starts[i]:ends[j - 1]]``: ends point past
    the whole original token, so a stemmed match still covers ``ears``, not ``ear``.
    """
    folded = _fold(text)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _TOKEN.finditer(folded):
        tok, s0 = stem(m.group()), m.start()
        if parts:
            parts.append(" ")
            starts.append(s0 - 1)
            ends.append(s0)
        parts.append(tok)
        starts.extend(range(s0, s0 + len(tok)))
        ends.extend(range(s0 + 1, s0 + len(tok)))
        ends.append(m.end())
    return "".join(parts), starts, ends


#: Punctuation that ends a phrase: a match may not span it ("brows, ptosis" is not *Brow
#: ptosis*). A period or comma before a digit ("1.5", "toes 2,3") does not count.
_BREAK = re.compile(r"[;!?()\[\]]|[.,](?!\d)")


def crosses_break(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` holds phrase-ending punctuation (``end`` must not fall
    right after a period or comma: spans here end on a word character)."""
    return _BREAK.search(text, start, end) is not None


@dataclass(frozen=True)
class NormalizedText:
    """A text normalized once (as :func:`normalize`), with offsets kept per token only.

    ``norm_starts[k]`` is where token ``k`` starts in ``norm``; ``starts[k]``/``ends[k]``
    its original offsets. Matches are token-bounded, so a normalized offset maps back
    through one bisection (:meth:`tokens`).
    """

    norm: str
    norm_starts: list[int]
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str, *, correct: Callable[[str], str] | None = None) -> NormalizedText:
        """Fold, tokenize and stem ``text`` once; ``correct`` maps each stemmed token to its
        spelling correction (:class:`realm.extract.fuzzy.Speller`), if given."""
        folded = _fold(text)
        tokens = [stem(t) for t in folded.split()]
        if correct is not None:
            tokens = [correct(t) for t in tokens]
        spans = [m.span() for m in _TOKEN.finditer(folded)]
        norm_starts = [0, *accumulate(len(t) + 1 for t in tokens)][: len(tokens)]
        return cls(" ".join(tokens), norm_starts, [s for s, _ in spans], [e for _, e in spans])

    def tokens(self, start_n: int, end_n: int) -> tuple[int, int]:
        """First and last token index of the token-bounded normalized range ``[start_n, end_n)``."""
        return bisect_right(self.norm_starts, start_n) - 1, bisect_right(self.norm_starts, end_n - 1) - 1

    def span(self, start_n: int, end_n: int) -> tuple[int, int]:
        """Original offsets of the token-bounded normalized range ``[start_n, end_n)``."""
        first, last = self.tokens(start_n, end_n)
        return self.starts[first], self.ends[last]


def norm_key(text: str) -> str:
    """The normalized form of a term (no offsets)."""
    return " ".join(map(stem, _fold(text).split()))


def _load_pairs(path: str | Path | None, packaged: str, key: str) -> dict[str, tuple[str, ...]]:
    """``key`` -> expansions from ``<key>,expansion`` rows of a CSV (default: packaged)."""
    table: dict[str, list[str]] = {}
    for row in read_rule_table(resource_path(packaged) if path is None else path, (key, "expansion")):
        surface, expansion = row.get(key), row.get("expansion")
        if not surface or not expansion:
            raise ConfigError(f"{row.path} row {row.line}: needs '{key}' and 'expansion'")
        table.setdefault(surface, []).append(expansion)
    return {k: tuple(v) for k, v in table.items()}


def load_abbreviations(path: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Abbreviation -> expansions from ``abbreviation,expansion`` rows (default: packaged CSV)."""
    return _load_pairs(path, "abbreviations_extract.csv", "abbreviation")


def load_surface_variants(path: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Surface -> expansions from ``surface,expansion`` rows (default: packaged
    ``surface_variants_extract.csv``): brand and short drug names, adjective forms of
    findings ("febrile"), matched case-insensitively like any name."""
    return _load_pairs(path, "surface_variants_extract.csv", "surface")


def abbreviated_variants(terms: Iterable[Term], abbreviations: Mapping[str, Sequence[str]]) -> list[Term]:
    """Longer terms with one expansion written as its abbreviation: "old MI", "LV failure",
    "acute on chronic systolic CHF" (clinicians abbreviate inside terms; the whole-term rows
    alone never match these). The variants match case-insensitively: inside a longer term
    the other words disambiguate "mi" or "lv", which alone they would not."""
    phrases: dict[tuple[str, ...], list[str]] = {}
    for abbr, expansions in abbreviations.items():
        for expansion in expansions:
            phrases.setdefault(tuple(_fold(expansion).split()), []).append(abbr)
    lengths = sorted({len(p) for p in phrases})
    out: list[Term] = []
    for term in terms:
        if term.source == "abbreviation":
            continue
        tokens = _fold(term.text).split()
        for n in lengths:
            if n >= len(tokens):
                break  # the whole term: the case-sensitive rows above cover it
            for i in range(len(tokens) - n + 1):
                for abbr in phrases.get(tuple(tokens[i:i + n]), ()):
                    text = " ".join([*tokens[:i], abbr, *tokens[i + n:]])
                    out.append(replace(term, text=text, source="abbreviation", case_sensitive=False))
    return out


class Lexicon:
    """Terms compiled into an automaton; immutable once built (derive with :meth:`extended`)."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self._build((norm_key(t.text), t) for t in terms)

    def _build(self, keyed: Iterable[tuple[str, Term]]) -> None:
        by_key: dict[str, dict[tuple, Term]] = {}
        for key, term in keyed:
            if len(key) < MIN_TERM_CHARS and not term.case_sensitive:
                continue
            if not key:
                continue
            # A case-sensitive term only matches its own spelling, so "AFib" and "afib" for
            # one node are two terms (deduplicating them by node left "afib" unmatchable).
            spelling = term.text if term.case_sensitive else None
            ident = (term.node_id, term.section, term.assertion, term.case_sensitive, spelling)
            by_key.setdefault(key, {}).setdefault(ident, term)
        self._terms: dict[str, tuple[Term, ...]] = {k: tuple(v.values()) for k, v in by_key.items()}
        self._automaton = ahocorasick.Automaton()
        for key in self._terms:
            self._automaton.add_word(f" {key} ", key)
        if self._terms:
            self._automaton.make_automaton()

    @classmethod
    def from_nodes(
        cls,
        nodes: Iterable[Node],
        types: Sequence[str] | None = None,
        *,
        abbreviations: Mapping[str, Sequence[str]] | None = None,
        variants: Mapping[str, Sequence[str]] | None = None,
        refused: dict[str, int] | None = None,
    ) -> Lexicon:
        """Names and synonyms of ``nodes`` (only ``types`` if given), plus the abbreviations
        (case-sensitive) and surface ``variants`` (case-insensitive) whose expansion equals
        one of those surfaces.

        Symbols (:func:`is_symbol`: gene symbols, short capital codes) match only as written
        and never under :data:`MIN_TERM_CHARS`; stop-word surfaces (:func:`realm.resources.words.is_stop_surface`)
        are refused. ``refused`` counts both kinds of drop: a lexicon built for notes must not
        turn "was" into the gene WAS.
        """
        refused = {} if refused is None else refused
        wanted = set(types) if types is not None else None
        terms: list[Term] = []
        for node in nodes:
            if wanted is not None and node.type not in wanted:
                continue
            for source, surface in [("name", node.name)] + [("synonym", s) for s in node.synonyms]:
                if is_stop_surface(surface):
                    refused["stop_word"] = refused.get("stop_word", 0) + 1
                elif not is_symbol(surface, node.type):
                    terms.append(Term(surface, node.id, node.type, source))
                elif len(norm_key(surface)) < MIN_TERM_CHARS:
                    refused["short_symbol"] = refused.get("short_symbol", 0) + 1
                else:
                    terms.append(Term(surface, node.id, node.type, source, case_sensitive=True))
        by_surface: dict[str, list[Term]] = {}
        for t in terms:
            by_surface.setdefault(norm_key(t.text), []).append(t)
        for surface, expansions in (variants or {}).items():
            for expansion in expansions:
                terms += [Term(surface, t.node_id, t.type, "variant") for t in by_surface.get(norm_key(expansion), [])]
        if abbreviations:
            for abbr, expansions in abbreviations.items():
                for expansion in expansions:
                    for t in by_surface.get(norm_key(expansion), []):
                        terms.append(Term(abbr, t.node_id, t.type, "abbreviation", case_sensitive=True))
            terms.extend(abbreviated_variants(terms, abbreviations))
        return cls(terms)

    def _keyed(self) -> Iterable[tuple[str, Term]]:
        for key, group in self._terms.items():
            for term in group:
                yield key, term

    def extended(self, extra: Iterable[Term]) -> Lexicon:
        """A new lexicon with ``extra`` terms added."""
        new = Lexicon.__new__(Lexicon)
        new._build([*self._keyed(), *((norm_key(t.text), t) for t in extra)])
        return new

    def without(self, drop: set[tuple[str, str]]) -> Lexicon:
        """A new lexicon without the (normalized surface, node id) pairs in ``drop``."""
        new = Lexicon.__new__(Lexicon)
        new._build((k, t) for k, t in self._keyed() if (k, t.node_id) not in drop)
        return new

    def lookup(self, key: str, *, section: str | None = None) -> tuple[Term, ...]:
        """Terms whose normalized surface is ``key`` and that apply in ``section``."""
        return tuple(t for t in self._terms.get(key, ()) if t.section is None or t.section == section)

    def vocabulary(self) -> set[str]:
        """Every normalized word of every term (what a spelling corrector may aim at)."""
        return {word for key in self._terms for word in key.split()}

    def terms(self) -> Iterable[Term]:
        """Every term, one per (surface, node, section, assertion)."""
        for group in self._terms.values():
            yield from group

    def __len__(self) -> int:
        return sum(len(g) for g in self._terms.values())

    def match(self, text: str, *, section: str | None = None, offset: int = 0) -> list[LexiconMatch]:
        """Leftmost-longest, non-overlapping, token-bounded matches in ``text``.

        Terms scoped to a section apply only when ``section`` equals theirs. ``offset`` is
        added to every reported position (for matching a slice of a longer note).
        """
        found = self.match_regions(text, [(0, len(text), section)])
        return [LexiconMatch(m.start + offset, m.end + offset, m.terms) for _, m in found]

    def match_regions(
        self, text: str, regions: Sequence[tuple[int, int, str | None]], *, normalized: NormalizedText | None = None
    ) -> list[tuple[int, LexiconMatch]]:
        """Matches of the whole ``text``, normalized once, kept inside disjoint regions.

        ``regions`` are ``(start, end, section)`` in text order (the bodies of a note's
        sections); a match must lie inside one region and only that region's section-scoped
        terms apply. Returns ``(region index, match)`` pairs, leftmost-longest, in text order.
        """
        if not self._terms or not regions:
            return []
        nt = normalized if normalized is not None else NormalizedText.of(text)
        bounds = [r[0] for r in regions]
        candidates: list[tuple[int, int, int, tuple[Term, ...]]] = []
        for end_idx, key in self._automaton.iter(f" {nt.norm} "):
            # the key " term " ends at end_idx of the padded text: the term is norm[s:e]
            start_n = end_idx - len(key) - 1
            first, last = nt.tokens(start_n, start_n + len(key))
            start, end = nt.starts[first], nt.ends[last]
            if last > first and crosses_break(text, start, end):
                continue
            region = bisect_right(bounds, start) - 1
            if region < 0 or end > regions[region][1]:
                continue
            section = regions[region][2]
            terms = tuple(
                t
                for t in self._terms[key]
                if (t.section is None or t.section == section) and (not t.case_sensitive or text[start:end] == t.text)
            )
            if terms:
                candidates.append((start, end, region, terms))
        candidates.sort(key=lambda c: (c[0], -c[1]))
        out: list[tuple[int, LexiconMatch]] = []
        last_end = -1
        for start, end, region, terms in candidates:
            if start >= last_end:
                out.append((region, LexiconMatch(start, end, terms)))
                last_end = end
        return out


def scoped(term: Term, **changes: object) -> Term:
    """A copy of ``term`` with fields changed (for section-scoped or asserted variants)."""
    return replace(term, **changes)
