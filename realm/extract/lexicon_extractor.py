"""The offline default extractor: lexicon matches + sections + ConText assertions.

For each section of a note the lexicon is matched in the section body (section-scoped
terms only apply in their section), then ConText decides each match's assertion. The
assertion comes from, in order: a term that carries its own (learned ``normal lips`` is a
negated lip abnormality), a ConText trigger, the section's default (family history), else
present. Sections with organ words get organ-scoped forms of dictionary terms, so
``EARS: low set`` yields *Low-set ears* with the header as part of its spans, the way
BioCreative VIII annotates discontinuous findings.

The note is normalized and matched once (:meth:`Lexicon.match_regions` over the section
bodies); an optional :class:`~realm.extract.fuzzy.Speller` corrects typos first, and
coordinations (``sparse eyelashes and eyebrows``) yield their second finding
(:mod:`realm.extract.coordination`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from realm.extract.bag import BagMatcher
from realm.extract.base import check_mentions
from realm.extract.context import ConText
from realm.extract.coordination import coordinated_matches
from realm.extract.fuzzy import Speller
from realm.extract.lexicon import Lexicon, NormalizedText, Term, norm_key
from realm.extract.sections import Section, SectionDetector, SectionRule
from realm.records import Assertion, Mention

__all__ = ["Annotation", "LexiconExtractor", "organ_scoped_terms", "normal_finding_terms", "NORMAL_ONLY", "NORMAL_ANATOMY"]

#: Term source of learned cores that name a finding only when negated (``telangiectases``
#: of ``no telangiectases``).
NORMAL_ONLY = "normal_only"
#: Term source of anatomical cores (``palate`` of *Abnormal palate morphology*) that name a
#: finding only when a cue calls the part normal (see :func:`normal_finding_terms`).
NORMAL_ANATOMY = "normal_anatomy"
#: A cue that calls a part normal (``normal``, ``grossly normal``, ``within normal limits``).
#: Other negation cues before a bare part name something else: ``no anus`` is an absent
#: anus, ``no telangiectases on ... fingers`` negates the telangiectases, not the fingers.
_NORMALCY = re.compile(r"\bnormal", re.IGNORECASE)

#: Words left after removing the organ that say nothing on their own ("abnormality of the").
_GENERIC = frozenset(
    "abnormal abnormality abnormalities morphology anomaly anomalies of the a an and or in on "
    "to with defect defects finding aplasia hypoplasia".split()
)


#: Words that may follow an organ-scoped form ("EARS: low set and posteriorly rotated").
#: Any other word right after it means the form modifies that word instead ("NOSE: wide
#: nasal bridge" is not *Wide nose*), so the organ reading is dropped.
_ORGAN_FOLLOWERS = frozenset(
    "and or but with without bilaterally bilateral b l r left right on in at to that than appearing "
    "appearance appear appears noted seen mildly slightly very".split()
)
_NEXT_WORD = re.compile(r"[ \t]*([A-Za-z]+)")
#: ``<subject> is|are|appears [adverb]`` right before an organ-scoped form: the form says
#: something of that subject ("HEAD: anterior fontanelle is large" is no *Macrocephaly*).
_SUBJECT_COPULA = re.compile(
    r"([A-Za-z]+)[ \t]+(?:is|are|was|were|appears?|looks?|seems?)[ \t]+(?:[A-Za-z]+ly[ \t]+)?$", re.IGNORECASE
)


def _modifies_next_word(text: str, end: int, organ_words: tuple[str, ...]) -> bool:
    """True when the word right after ``end`` (same phrase) is not a function word. One of
    the section's organ words may follow when it ends the phrase itself (``HAIR: sparse
    hair`` keeps its organ reading, ``NOSE: wide nasal bridge`` does not)."""
    m = _NEXT_WORD.match(text, end)
    if m is None:
        return False
    word = m.group(1).lower()
    if word in organ_words:
        return _modifies_next_word(text, m.end(), ())
    return word not in _ORGAN_FOLLOWERS


def _predicates_other_subject(text: str, start: int, organ_words: tuple[str, ...]) -> bool:
    """True when the organ-scoped form at ``start`` follows ``<subject> is`` and the subject
    is not one of the section's organ words (``Both ears are low set`` keeps its reading)."""
    m = _SUBJECT_COPULA.search(text, max(0, start - 60), start)
    if m is None:
        return False
    subject = m.group(1).lower()
    return not any(subject == w or subject == w + "s" or subject.rstrip("s") == w for w in organ_words)


def _word_taken(spans: tuple[tuple[int, int], ...], phrases: list[tuple[int, int]]) -> bool:
    """True when a bag word modifies a later word of a contiguous match: it already belongs
    to another finding (``wide`` of ``wide nasal bridge and bulbous tip`` is no *Broad nasal
    tip*). A match ending on a bag word shares only its noun (``small cupped ears`` is still
    *Microtia*), and a match within the bag is a more general reading of it."""
    return any(s < end and start < e and end > e for s, e in spans for start, end in phrases)


@dataclass(frozen=True)
class Annotation:
    """A mention plus what produced it: the ConText trigger span when one applied, the term,
    and ``via``: ``"lexicon"`` (a contiguous match), ``"coordination"`` or ``"bag"``."""

    mention: Mention
    cue: tuple[int, int] | None = None
    term: Term | None = None
    via: str = "lexicon"


def organ_scoped_terms(terms: Iterable[Term], rules: Iterable[SectionRule]) -> list[Term]:
    """Section-scoped copies of terms with the section's organ words removed.

    ``low set ears`` under a rule for ``EARS`` (organ words ear, ears) gives ``low set``
    scoped to that section. Copies left with only generic words are dropped.
    """
    organ_sections: dict[tuple[str, ...], set[str]] = {}
    for rule in rules:
        for word in rule.organ_words:
            organ_sections.setdefault(tuple(norm_key(word).split()), set()).add(rule.section)
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for organ in organ_sections:
        by_first.setdefault(organ[0], []).append(organ)
    out: list[Term] = []
    for term in terms:
        if term.section is not None or term.case_sensitive:
            continue
        tokens = norm_key(term.text).split()
        hit = next(
            (
                (i, organ)
                for i, tok in enumerate(tokens)
                for organ in by_first.get(tok, ())
                if tuple(tokens[i : i + len(organ)]) == organ
            ),
            None,
        )
        if hit is None:
            continue
        i, organ = hit
        rest = tokens[:i] + tokens[i + len(organ) :]
        if not [w for w in rest if w not in _GENERIC and len(w) >= 3]:
            continue
        for section in organ_sections[organ]:
            out.append(Term(" ".join(rest), term.node_id, term.type, "organ", section, term.assertion))
    # a stripped form naming several nodes in one section ("short" under HANDS FEET: short
    # finger, short palm, short foot...) cannot be decided from the header: drop it
    nodes_of: dict[tuple[str | None, str], set[str]] = {}
    for t in out:
        nodes_of.setdefault((t.section, t.text), set()).add(t.node_id)
    return [t for t in out if len(nodes_of[(t.section, t.text)]) == 1]


_ABNORMAL_OF = re.compile(r"^abnormal(?:ity)?\s+(?:of\s+)?(?:the\s+)?(.+?)(?:\s+morphology)?$", re.IGNORECASE)


def normal_finding_terms(terms: Iterable[Term]) -> list[Term]:
    """``Abnormal palate morphology`` -> ``palate``, usable only when called normal.

    Exam notes state normal findings as ``Normal palate`` or ``palate appears normal``: BC8
    codes these as the negated abnormality. The anatomical core is emitted only when ConText
    negates it with a normalcy cue, so a bare ``palate`` or ``no palate`` never becomes
    this finding.
    """
    out = []
    for term in terms:
        m = _ABNORMAL_OF.match(term.text.strip())
        if m and term.section is None and len(m.group(1)) >= 4:
            out.append(Term(m.group(1), term.node_id, term.type, NORMAL_ANATOMY))
    return out


class LexiconExtractor:
    """Lexicon + sections + ConText; ``Mention.extractor == "lexicon"``."""

    name = "lexicon"

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        context: ConText | None = None,
        sections: SectionDetector | None = None,
        organ_variants: bool = True,
        assertions: bool = True,
        speller: Speller | None = None,
        coordination: bool = True,
        bags: BagMatcher | None = None,
        preference: Callable[[Term], float] | None = None,
    ) -> None:
        self.sections = sections if sections is not None else SectionDetector.default()
        if organ_variants:
            base = list(lexicon.terms())
            lexicon = lexicon.extended(organ_scoped_terms(base, self.sections.rules()) + normal_finding_terms(base))
        self.lexicon = lexicon
        self.speller = speller
        self.coordination = coordination
        self.bags = bags
        self.preference = preference
        self.context = (context if context is not None else ConText.default()) if assertions else None

    def annotate(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Annotation]:
        """Mentions with their trigger spans, in text order."""
        found: list[tuple[tuple[tuple[int, int], ...], tuple[int, int], Term, Section, str]] = []
        sections = self.sections.sections(text)
        regions = [(s.body[0], s.body[1], s.name) for s in sections]
        normalized = NormalizedText.of(text, correct=self.speller.correct if self.speller else None)
        matched = self.lexicon.match_regions(text, regions, normalized=normalized)
        starts = [r[0] for r in regions]
        for index, match in matched:
            section = sections[index]
            chosen: dict[str, Term] = {}
            for term in match.terms:
                if term.node_id in chosen:
                    continue
                if term.source == "organ" and (
                    _modifies_next_word(text, match.end, section.organ_words)
                    or _predicates_other_subject(text, match.start, section.organ_words)
                ):
                    continue
                chosen[term.node_id] = term
            if len(chosen) > 1 and self.preference is not None:
                # one surface, several ids: annotators code one of them, the one preferred
                scores = {node_id: self.preference(term) for node_id, term in chosen.items()}
                best = max(scores.values())
                chosen = {node_id: term for node_id, term in chosen.items() if scores[node_id] >= best}
            for term in chosen.values():
                core = (match.start, match.end)
                spans = (section.header, core) if term.source == "organ" and section.header else (core,)
                found.append((spans, core, term, section, "lexicon"))
        if self.coordination:
            located = [(m.start, m.end, sections[i].name) for i, m in matched]
            for extra in coordinated_matches(text, normalized, located, self.lexicon):
                section = sections[bisect_right(starts, extra.spans[0][0]) - 1]
                core = (extra.spans[0][0], extra.spans[-1][1])
                for term in {t.node_id: t for t in extra.terms if t.source != "organ"}.values():
                    found.append((extra.spans, core, term, section, "coordination"))
        if self.bags is not None:
            # a bag only adds a finding no contiguous match of the note already names
            named = {f[2].node_id for f in found}
            phrases = [f[1] for f in found if f[4] == "lexicon" and f[2].source not in (NORMAL_ONLY, NORMAL_ANATOMY)]
            for bag in self.bags.match(text, normalized, regions):
                if bag.term.node_id not in named and not _word_taken(bag.spans, phrases):
                    named.add(bag.term.node_id)
                    # ConText reads the last word group: a cue may sit between the words
                    # ("thumbs are not broad")
                    core = bag.spans[-1]
                    found.append((bag.spans, core, bag.term, sections[bag.section_index], "bag"))
        hits = self.context.assert_spans(text, [f[1] for f in found]) if self.context else [None] * len(found)
        out = []
        for (spans, core, term, section, via), hit in zip(found, hits):
            if term.source in (NORMAL_ONLY, NORMAL_ANATOMY):
                if hit is None or hit.assertion is not Assertion.NEGATED or self.context is None:
                    continue
                if term.source == NORMAL_ANATOMY and not _NORMALCY.search(text, hit.trigger[0], hit.trigger[1]):
                    continue
                assertion, cue = hit.assertion, hit.trigger
            elif term.assertion is not None:
                assertion, cue = term.assertion, None
            elif hit is not None:
                assertion, cue = hit.assertion, hit.trigger
            else:
                assertion, cue = section.assertion or Assertion.PRESENT, None
            if self.context is None:
                assertion, cue = Assertion.PRESENT, None
            mention = Mention(
                text=" ".join(text[s:e] for s, e in spans),
                spans=spans,
                type=term.type,
                assertion=assertion,
                section=section.name,
                extractor=self.name,
                note_id=note_id,
                stay_id=stay_id,
                node_id=term.node_id,
                link_score=1.0,
            )
            out.append(Annotation(mention, cue, term, via))
        return out

    def extract(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Mention]:
        """Grounded mentions in text order (see :meth:`annotate`)."""
        return check_mentions((a.mention for a in self.annotate(text, note_id=note_id, stay_id=stay_id)), text)
