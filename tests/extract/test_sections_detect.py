"""Section detection from headers: ICU headers, BC8 'ORGAN: observation', family history."""

from __future__ import annotations

from realm.extract.lexicon import Lexicon, Term
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.extract.sections import SectionDetector
from realm.records import Assertion


def test_icu_note_sections_and_default_assertions() -> None:
    text = "Pt admitted at 10:30 with sepsis.\nFamily History: diabetes.\nPMH: asthma\nPlan: insulin"
    sections = SectionDetector.default().sections(text)
    names = [s.name for s in sections]
    assert names == [None, "family_history", "past_medical_history", "assessment_plan"]
    fam = sections[1]
    assert fam.assertion is Assertion.FAMILY
    assert text[fam.header[0] : fam.header[1]] == "Family History"
    assert text[fam.body[0] : fam.body[1]].strip() == "diabetes."


def test_bc8_observation_header_and_unknown_capital_header() -> None:
    detector = SectionDetector.default()
    (ears,) = detector.sections("EARS: low set")
    assert ears.name == "ears" and ears.header == (0, 4) and "ear" in ears.organ_words
    (other,) = detector.sections("GROWTH CHART: ok")
    assert other.name == "growth_chart"
    # a lower-case phrase with a colon is not a header
    assert detector.sections("mother reports: fine")[0].name is None


def test_family_history_section_makes_family_mentions() -> None:
    extractor = LexiconExtractor(Lexicon([Term("diabetes", "D1", "disease")]))
    mentions = extractor.extract("HPI: diabetes\nFamily history: diabetes")
    assert [m.assertion for m in mentions] == [Assertion.PRESENT, Assertion.FAMILY]
    assert [m.section for m in mentions] == ["hpi", "family_history"]
