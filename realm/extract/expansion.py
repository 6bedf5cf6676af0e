"""Dictionary expansion from annotated training text, as the BioCreative VIII teams did.

Two things are learned from gold findings (:class:`~realm.extract.bc8.Observation`):

1. *surface forms*: the annotated text of every gold finding becomes an extra term of its
   id. A finding whose first span is the section header (``EARS: ... low set``) becomes a
   term scoped to that section; a negated finding whose text holds its cue (``normal
   lips``) becomes a term that carries the negated assertion, and its cue-free core
   (``lips`` is too short; ``telangiectases`` is kept) a term that fires only when
   negated, unless the core was also annotated as a present finding;
2. a *precision filter*: the extractor is run over the training texts and every
   (surface, id) pair that is usually wrong there (precision below a threshold over at
   least ``min_count`` matches) is dropped from the lexicon.

Typo correction (:class:`~realm.extract.fuzzy.Speller`) aims at the trained lexicon's words
and never touches a word of the training texts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from realm.errors import RealmError
from realm.extract.bc8 import Observation
from realm.extract.context import ConText
from realm.extract.fuzzy import Speller
from realm.extract.lexicon import Lexicon, Term, norm_key
from realm.extract.lexicon_extractor import NORMAL_ONLY, LexiconExtractor, normal_finding_terms, organ_scoped_terms
from realm.extract.sections import SectionDetector
from realm.records import Assertion

__all__ = ["ExpansionReport", "learned_terms", "precision_filter", "train_lexicon_extractor"]

log = logging.getLogger(__name__)
Resolver = Callable[[str], str]
#: Provisional source of a negated surface's cue-free core (see :func:`learned_terms`).
_CORE = "learned_core"


@dataclass
class ExpansionReport:
    """What training changed: counts only (never note text)."""

    learned_terms: int = 0
    dropped_pairs: int = 0
    lexicon_size: int = 0
    dropped: set[tuple[str, str]] = field(default_factory=set)


def _contiguous(text: str, spans: Sequence[tuple[int, int]]) -> bool:
    """True when only whitespace lies between consecutive spans."""
    return all(not text[a_end:b_start].strip() for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def learned_terms(
    observations: Sequence[Observation],
    *,
    resolve: Resolver,
    sections: SectionDetector,
    context: ConText,
    type: str = "phenotype",
) -> list[Term]:
    """Terms from the gold findings' surfaces (see the module docstring).

    Findings whose id ``resolve`` rejects (raises a RealmError) are skipped; discontinuous findings
    that are neither header-scoped nor contiguous cannot be matched and are skipped.
    """
    out: list[Term] = []
    for obs in observations:
        parsed = sections.sections(obs.text)
        for finding in obs.findings:
            try:
                node_id = resolve(finding.term)
            except RealmError:  # an id the KG does not know: nothing to learn from it
                continue
            spans = sorted(finding.spans)
            section = next((s for s in parsed if s.header is not None and s.header == spans[0]), None)
            if section is not None and len(spans) > 1:
                body, scope = spans[1:], section.name
            else:
                body, scope = spans, None
            if not _contiguous(obs.text, body):
                continue
            surface = obs.text[body[0][0] : body[-1][1]]
            if finding.negated:
                out.extend(_negated_terms(surface, node_id, type, scope, context))
            else:
                out.append(Term(surface, node_id, type, "learned", scope))
    # the cue-free core of a negated surface ("strength" of "normal strength") names a
    # finding on its own only when it was also annotated present; else it stays negated-only
    present = {(norm_key(t.text), t.node_id) for t in out if t.source == "learned" and t.assertion is None}
    return [
        replace(t, source=NORMAL_ONLY) if t.source == _CORE and (norm_key(t.text), t.node_id) not in present else
        replace(t, source="learned") if t.source == _CORE else t
        for t in out
    ]


def _negated_terms(surface: str, node_id: str, type: str, scope: str | None, context: ConText) -> list[Term]:
    """A negated gold surface: itself with its assertion, plus its cue-free core."""
    terms = [Term(surface, node_id, type, "learned", scope, Assertion.NEGATED)]
    hits = context.assert_spans(surface, [(0, len(surface))])
    # find a cue at either edge of the surface and strip it to get the core
    cues = [h.trigger for h in hits if h is not None and h.assertion is Assertion.NEGATED]
    for start, end in cues:
        core = surface[end:] if start == 0 else surface[:start] if end == len(surface) else ""
        if len(norm_key(core)) >= 4:
            terms.append(Term(core.strip(), node_id, type, _CORE, scope))
    return terms


def precision_filter(
    extractor: LexiconExtractor,
    observations: Sequence[Observation],
    *,
    resolve: Resolver,
    min_precision: float = 0.3,
    min_count: int = 2,
) -> set[tuple[str, str]]:
    """(normalized surface, node id) pairs whose precision on ``observations`` is too low."""
    hits: Counter[tuple[str, str]] = Counter()
    right: Counter[tuple[str, str]] = Counter()
    for obs in observations:
        gold = set()
        for f in obs.findings:
            try:
                gold.add(resolve(f.term))
            except RealmError:  # unknown gold id: it can never be matched
                continue
        for ann in extractor.annotate(obs.text):
            if ann.term is None:
                continue
            key = (norm_key(ann.term.text), ann.term.node_id)
            hits[key] += 1
            right[key] += ann.term.node_id in gold
    return {k for k, n in hits.items() if n >= min_count and right[k] / n < min_precision}


def train_lexicon_extractor(
    base: Lexicon,
    train: Sequence[Observation],
    *,
    resolve: Resolver,
    context: ConText | None = None,
    sections: SectionDetector | None = None,
    expand: bool = True,
    filter_precision: float | None = 0.5,
    min_count: int = 1,
    fuzzy: bool = True,
) -> tuple[LexiconExtractor, ExpansionReport]:
    """The default extractor trained on ``train``: organ-scoped forms, learned surfaces,
    then the precision filter. ``expand=False`` and ``filter_precision=None`` switch the
    two learned parts off (for ablations)."""
    context = context or ConText.default()
    sections = sections or SectionDetector.default()
    report = ExpansionReport()
    base_terms = list(base.terms())
    extra = organ_scoped_terms(base_terms, sections.rules()) + normal_finding_terms(base_terms)
    if expand:
        learned = learned_terms(train, resolve=resolve, sections=sections, context=context)
        report.learned_terms = len(learned)
        extra += learned
    lexicon = base.extended(extra)
    # words of the training texts are right by definition: only unseen words are corrected
    known = {word for obs in train for word in norm_key(obs.text).split()}
    speller = Speller(lexicon.vocabulary(), known=known) if fuzzy else None
    extractor = LexiconExtractor(lexicon, context=context, sections=sections, organ_variants=False, speller=speller)
    if filter_precision is not None:
        drop = precision_filter(extractor, train, resolve=resolve, min_precision=filter_precision, min_count=min_count)
        report.dropped, report.dropped_pairs = drop, len(drop)
        extractor = LexiconExtractor(
            lexicon.without(drop), context=context, sections=sections, organ_variants=False, speller=speller
        )
    report.lexicon_size = len(extractor.lexicon)
    log.info("lexicon trained: %d learned terms, %d pairs dropped, %d terms", report.learned_terms, report.dropped_pairs, report.lexicon_size)
    return extractor, report
