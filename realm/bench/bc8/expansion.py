"""Dictionary expansion from annotated training text, as the BioCreative VIII teams did.

Two things are learned from gold findings (:class:`~realm.bench.bc8.data.Observation`):

1. *surface forms*: the annotated text of every gold finding becomes an extra term of its
   id. A finding whose first span is the section header (``EARS: ... low set``) becomes a
   term scoped to that section; a negated finding whose text holds its cue (``normal
   lips``) becomes a term that carries the negated assertion, and its cue-free core
   (``lips`` is too short; ``telangiectases`` is kept) a term that fires only when
   negated, unless the core was also annotated as a present finding;
2. a *precision filter*: the extractor is run over the training texts and every
   (surface, id) pair that is usually wrong there (precision below a threshold over at
   least ``min_count`` matches) is dropped from the lexicon.

On top of these, :func:`train_lexicon_extractor` adds what generalizes to unseen notes: term
variants from word substitutions learned on the training annotations and from compounds
(:mod:`realm.bench.bc8.substitution`), bag-of-words matches (:mod:`realm.extract.bag`) kept
only where they are usually right on the training texts, and, where one surface names several
ids, the learned choice of the id annotators code (:mod:`realm.bench.bc8.preference`).

Typo correction (:class:`~realm.extract.fuzzy.Speller`) aims at the trained lexicon's words
and never touches a word of the training texts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from realm.errors import RealmError
from realm.extract.bag import BagMatcher
from realm.bench.bc8.data import Observation
from realm.extract.context import ConText
from realm.extract.fuzzy import Speller
from realm.extract.lexicon import Lexicon, Term, norm_key
from realm.extract.lexicon_extractor import NORMAL_ONLY, LexiconExtractor, normal_finding_terms, organ_scoped_terms
from realm.bench.bc8.preference import TermPreference, pair_stats
from realm.extract.sections import SectionDetector
from realm.bench.bc8.substitution import compound_terms, learn_substitutions, substituted_terms
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
    dropped_bags: int = 0
    substituted_terms: int = 0
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
    via: tuple[str, ...] = ("lexicon", "coordination"),
) -> set[tuple[str, str]]:
    """(normalized surface, node id) pairs whose precision on ``observations`` is too low,
    counting only the annotations made ``via`` those steps (see :func:`pair_stats`)."""
    return pair_stats(extractor, observations, resolve=resolve, via=via).low_precision(min_precision, min_count)


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
    bags: bool = True,
    bag_precision: float = 0.5,
    substitutions: bool = True,
    prefer: bool = True,
    compounds: bool = True,
) -> tuple[LexiconExtractor, ExpansionReport]:
    """The default extractor trained on ``train``: organ-scoped forms, learned surfaces,
    substituted and compound variants, then the precision filter and the learned id choice;
    with ``bags``, bag-of-words matches of the trained lexicon whose (surface, id) pairs are
    right at least ``bag_precision`` of the time on ``train``. ``expand``,
    ``filter_precision=None``, ``substitutions``, ``compounds``, ``prefer`` and ``bags``
    switch the parts off (for ablations)."""
    context = context or ConText.default()
    sections = sections or SectionDetector.default()
    report = ExpansionReport()
    base_terms = list(base.terms())
    extra = organ_scoped_terms(base_terms, sections.rules()) + normal_finding_terms(base_terms)
    if expand:
        learned = learned_terms(train, resolve=resolve, sections=sections, context=context)
        report.learned_terms = len(learned)
        extra += learned
    if substitutions:
        subs = learn_substitutions(train, base_terms, resolve=resolve)
        variants = substituted_terms(base_terms, subs)
        report.substituted_terms = len(variants)
        extra += variants
    if compounds:
        extra += compound_terms(base_terms)
    lexicon = base.extended(extra)
    surfaces = [norm_key(t.text) for t in lexicon.terms()]
    # words of the training texts are right by definition: only unseen words are corrected
    known = {word for obs in train for word in norm_key(obs.text).split()}
    speller = Speller(lexicon.vocabulary(), known=known) if fuzzy else None
    extractor = LexiconExtractor(lexicon, context=context, sections=sections, organ_variants=False, speller=speller)
    preference = None
    if filter_precision is not None or prefer:
        stats = pair_stats(extractor, train, resolve=resolve)
        preference = TermPreference(stats) if prefer else None
        if filter_precision is not None:
            drop = stats.low_precision(filter_precision, min_count)
            report.dropped, report.dropped_pairs = drop, len(drop)
            lexicon = lexicon.without(drop)
    extractor = LexiconExtractor(
        lexicon, context=context, sections=sections, organ_variants=False, speller=speller, preference=preference
    )
    if bags:
        matcher = BagMatcher(lexicon, known=surfaces)
        with_bags = LexiconExtractor(
            lexicon,
            context=context,
            sections=sections,
            organ_variants=False,
            speller=speller,
            bags=matcher,
            preference=preference,
        )
        drop_bags = pair_stats(with_bags, train, resolve=resolve, via=("bag",)).low_precision(bag_precision, min_count)
        report.dropped_bags = len(drop_bags)
        extractor = LexiconExtractor(
            lexicon,
            context=context,
            sections=sections,
            organ_variants=False,
            speller=speller,
            bags=matcher.without(drop_bags),
            preference=preference,
        )
    report.lexicon_size = len(extractor.lexicon)
    log.info(
        "lexicon trained: %d learned + %d substituted terms, %d pairs and %d bags dropped, %d terms",
        report.learned_terms,
        report.substituted_terms,
        report.dropped_pairs,
        report.dropped_bags,
        report.lexicon_size,
    )
    return extractor, report
