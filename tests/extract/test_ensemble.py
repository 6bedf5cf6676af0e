"""EnsembleExtractor: merging overlapping mentions, the three modes, assertion votes, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from realm.errors import ConfigError
from realm.extract.base import Extractor
from realm.extract.ensemble import EnsembleExtractor, merge_mentions
from realm.records import Assertion, Mention

NOTE = "Septic shock on norepinephrine. No pneumonia. Acute kidney injury."


def m(text: str, extractor: str, type_: str = "disease", assertion: Assertion = Assertion.PRESENT,
      confidence: float = 1.0, node_id: str | None = None, span_text: str | None = None) -> Mention:
    start = NOTE.index(span_text or text)
    return Mention(text=text, spans=((start, start + len(text)),), type=type_, assertion=assertion,
                   extractor=extractor, confidence=confidence, node_id=node_id, link_score=1.0 if node_id else None)


@dataclass
class Fixed:
    """An extractor that returns the mentions it was given."""

    name: str
    mentions: list[Mention] = field(default_factory=list)

    def extract(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Mention]:
        return list(self.mentions)


LEXICON = Fixed("lexicon", [
    m("Septic shock", "lexicon", node_id="ICU:septic_shock"),
    m("pneumonia", "lexicon", assertion=Assertion.NEGATED, node_id="ICU:pneumonia"),
    m("norepinephrine", "lexicon", "drug", node_id="ICU:norepinephrine"),
])
LLM = Fixed("llm", [
    m("Septic shock on norepinephrine", "llm", confidence=0.6),  # overlaps two lexicon mentions? types decide
    m("pneumonia", "llm", assertion=Assertion.PRESENT, confidence=0.7),
    m("Acute kidney injury", "llm", confidence=0.4),
])


def test_fixed_extractors_follow_the_protocol() -> None:
    assert isinstance(LEXICON, Extractor) and isinstance(EnsembleExtractor([LEXICON]), Extractor)


def test_union_merges_overlaps_of_compatible_types_and_keeps_provenance() -> None:
    out = EnsembleExtractor([LEXICON, LLM], mode="union").extract(NOTE)
    by_text = {x.text: x for x in out}
    assert set(by_text) == {"Septic shock", "pneumonia", "norepinephrine", "Acute kidney injury"}
    assert by_text["Septic shock"].extractor == "ensemble:lexicon+llm"  # the disease spans overlap
    assert by_text["Septic shock"].node_id == "ICU:septic_shock"  # from the first-listed member
    assert by_text["norepinephrine"].extractor == "ensemble:lexicon"  # a drug is not a disease
    assert by_text["Acute kidney injury"].extractor == "ensemble:llm"
    assert all(x.is_grounded_in(NOTE) for x in out)


def test_vote_keeps_entities_found_by_enough_extractors() -> None:
    out = EnsembleExtractor([LEXICON, LLM], mode="vote", min_votes=2).extract(NOTE)
    assert sorted(x.text for x in out) == ["Septic shock", "pneumonia"]


def test_assertion_tie_goes_to_the_cautious_side() -> None:
    out = EnsembleExtractor([LEXICON, LLM], mode="vote").extract(NOTE)
    pneumonia = next(x for x in out if x.text == "pneumonia")
    assert pneumonia.assertion is Assertion.NEGATED  # one says negated, one present: negated wins


def test_assertion_majority_wins_over_precedence() -> None:
    third = Fixed("other", [m("pneumonia", "other")])
    out = EnsembleExtractor([LEXICON, LLM, third], mode="vote", min_votes=3).extract(NOTE)
    assert [(x.text, x.assertion) for x in out] == [("pneumonia", Assertion.PRESENT)]
    assert out[0].extractor == "ensemble:lexicon+llm+other"


def test_confidence_mode_combines_member_confidences() -> None:
    out = EnsembleExtractor([LLM, Fixed("lexicon2", [m("pneumonia", "lexicon2", confidence=0.5)])],
                            mode="confidence", min_confidence=0.8).extract(NOTE)
    # pneumonia: 1 - 0.3 * 0.5 = 0.85 passes; septic shock 0.6 and AKI 0.4 alone do not
    assert [(x.text, x.confidence) for x in out] == [("pneumonia", 0.85)]


def test_linked_mentions_of_different_nodes_stay_apart() -> None:
    a = [m("Septic shock", "a", node_id="ICU:septic_shock")]
    b = [m("shock", "b", node_id="ICU:shock", span_text="shock")]
    out = merge_mentions([a, b], ["a", "b"], mode="union")
    assert sorted(x.node_id for x in out) == ["ICU:septic_shock", "ICU:shock"]


def test_extract_many_matches_extract() -> None:
    ens = EnsembleExtractor([LEXICON, LLM], mode="union")
    assert ens.extract_many([NOTE, NOTE]) == [ens.extract(NOTE)] * 2


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        EnsembleExtractor([LEXICON], mode="majority")
    with pytest.raises(ConfigError):
        EnsembleExtractor([LEXICON, LLM], mode="vote", min_votes=3)
    with pytest.raises(ConfigError):
        EnsembleExtractor([])
