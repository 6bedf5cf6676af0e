"""ConText on crafted sentences, and negation on the real BioCreative VIII rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.bench.bc8.data import read_bc8
from realm.extract.context import ConText, load_context_rules
from realm.records import Assertion


@pytest.fixture(scope="module")
def ctx() -> ConText:
    return ConText.default()


def _assert(ctx: ConText, text: str, target: str) -> Assertion | None:
    start = text.index(target)
    hit = ctx.assert_spans(text, [(start, start + len(target))])[0]
    return None if hit is None else hit.assertion


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("No pneumonia on chest film.", "pneumonia", Assertion.NEGATED),
        ("Patient denies chest pain.", "chest pain", Assertion.NEGATED),
        ("Pneumothorax was ruled out.", "Pneumothorax", Assertion.NEGATED),
        ("No increase in edema.", "edema", None),
        ("Not examined, sacral dimple seen.", "sacral dimple", None),
        ("No fever but cough persists.", "cough", None),
        ("No fever but cough persists.", "fever", Assertion.NEGATED),
        ("Family history of diabetes.", "diabetes", Assertion.FAMILY),
        ("History of seizures.", "seizures", Assertion.HISTORICAL),
        ("Concern for sepsis.", "sepsis", Assertion.HYPOTHETICAL),
        ("No rash. Pneumonia present.", "Pneumonia", None),
        ("Palate intact.", "Palate", Assertion.NEGATED),
        ("no macrodactyly, slight sandal gap", "sandal gap", None),
    ],
)
def test_crafted_sentences(ctx: ConText, text: str, target: str, expected: Assertion | None) -> None:
    assert _assert(ctx, text, target) is expected


def test_trigger_span_is_reported(ctx: ConText) -> None:
    text = "EYES: no epicanthal folds"
    hit = ctx.assert_spans(text, [(9, 25)])[0]
    assert hit is not None and text[hit.trigger[0] : hit.trigger[1]] == "no"


def test_rules_file_is_valid_and_bad_rules_are_refused(tmp_path: Path) -> None:
    rules = load_context_rules()
    assert {r.kind for r in rules} == {"trigger", "pseudo", "termination"}
    bad = tmp_path / "rules.csv"
    bad.write_text("literal,category,direction,kind,max_scope\nno,negated,sideways,trigger,\n")
    with pytest.raises(Exception, match="rule 2"):
        load_context_rules(bad)


@pytest.mark.shared_data
def test_negation_on_real_bc8_rows_beats_majority(ctx: ConText, bc8_train: Path) -> None:
    """For every gold finding, does ConText negate the finding's text as the annotators did?"""
    right = total = negated = 0
    for obs in read_bc8(bc8_train):
        header_end = obs.text.find(":")
        for f in obs.findings:
            spans = [s for s in f.spans if s[0] > header_end] or list(f.spans)
            target = (min(s for s, _ in spans), max(e for _, e in spans))
            hit = ctx.assert_spans(obs.text, [target])[0]
            predicted = hit is not None and hit.assertion is Assertion.NEGATED
            right += predicted == f.negated
            negated += f.negated
            total += 1
    majority = max(negated, total - negated) / total
    accuracy = right / total
    assert total > 2000
    assert accuracy > majority + 0.03, (accuracy, majority)
