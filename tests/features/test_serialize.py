"""The stay serializer: content, flags, the prediction-time cut, token budgets and the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realm.cli import main
from realm.data.cohort import Cohort
from realm.errors import ConfigError, DataError
from realm.kg.graph import KnowledgeGraph
from realm.features.serialize import make_token_counter, serialize_stay
from realm.records import Assertion, Mention, Node


def _cohort(window: float | None = 48.0) -> Cohort:
    stays = pd.DataFrame({"stay_id": [1, 2], "subject_id": [10, 20], "source": "test",
                          "age": [71.4, 300.0], "sex": ["F", "M"], "icu_type": ["MICU", "CCU"]})
    events = pd.DataFrame({
        "stay_id": [1, 1, 1, 1, 1, 1, 2],
        "hours": [1.0, 5.0, 30.0, 2.0, 40.0, 10.0, 3.0],
        "variable": ["heart_rate", "heart_rate", "heart_rate", "potassium", "potassium", "mech_vent", "sodium"],
        "value": [80.0, 130.0, 95.0, 4.0, 6.1, 1.0, 131.0],
    })
    notes = pd.DataFrame({"note_id": ["n1", "n2"], "stay_id": [1, 1], "hours": [6.0, 20.0],
                          "category": "Physician", "text": ["Septic shock. No pneumonia.", "Started heparin."]})
    meta = {"window_hours": window} if window is not None else {}
    return Cohort(stays=stays, events=events, notes=notes, labels=pd.DataFrame({"stay_id": [1, 2]}), meta=meta)


def _mentions() -> pd.DataFrame:
    """Linked entities of the notes above, placed in time by note_id."""
    return pd.DataFrame({"note_id": ["n1", "n1", "n2"], "node_id": ["X:1", "X:2", "DRUG:heparin"],
                         "text": ["Septic shock", "pneumonia", "heparin"],
                         "assertion": ["present", "negated", "present"]})


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("tiny")
    kg.add_node(Node("X:1", "Septic shock syndrome", "disease"))
    kg.add_node(Node("X:2", "Pneumonia", "disease"))
    kg.add_node(Node("DRUG:heparin", "Heparin", "drug"))
    return kg


def test_measurements_have_last_value_units_flags_and_range() -> None:
    text = serialize_stay(_cohort(), 1, fmt="list")
    assert "Heart rate: 95 bpm (normal), min 80, max 130" in text.splitlines()
    assert "Serum potassium: 6.1 mmol/L (high), min 4, max 6.1" in text.splitlines()
    assert "Mechanical ventilation: yes" in text.splitlines()
    assert text.splitlines()[:4] == ["Demographics:", "Age: 71 years", "Sex: female", "ICU type: MICU"]
    other = serialize_stay(_cohort(), 2, fmt="list")
    assert "Age: 90 years or older" in other and "Serum sodium: 131 mmol/L (low)" in other


def test_markdown_and_list_render_the_same_items() -> None:
    md = serialize_stay(_cohort(), 1, fmt="markdown", kg=_kg(), mentions=_mentions())
    plain = serialize_stay(_cohort(), 1, fmt="list", kg=_kg(), mentions=_mentions())
    assert md.startswith("# ICU stay, first 48 hours") and "## Vital signs" in md
    items_md = sorted(line[2:] for line in md.splitlines() if line.startswith("- "))
    items_list = sorted(line for line in plain.splitlines() if not line.endswith(":"))
    assert items_md == items_list
    with pytest.raises(ConfigError, match="format"):
        serialize_stay(_cohort(), 1, fmt="yaml")  # type: ignore[arg-type]


def test_entities_are_named_through_the_kg_with_assertions() -> None:
    cohort = _cohort()
    text = serialize_stay(cohort, 1, fmt="list", kg=_kg(), mentions=_mentions())
    lines = text.splitlines()
    assert "Septic shock syndrome" in lines and "no Pneumonia" in lines
    # drugs go with medications, not with conditions
    assert lines.index("Heparin") > lines.index("Medications:") > lines.index("no Pneumonia")
    without_kg = serialize_stay(cohort, 1, fmt="list", mentions=_mentions())
    assert "Septic shock" in without_kg.splitlines() and "no pneumonia" in without_kg.splitlines()


def test_mention_records_are_accepted_and_need_a_time() -> None:
    cohort = _cohort()
    records = [Mention("pneumonia", ((17, 26),), "disease", Assertion.NEGATED, note_id="n1", stay_id=1, node_id="X:2")]
    assert "no Pneumonia" in serialize_stay(cohort, 1, kg=_kg(), mentions=records).splitlines()[-1]
    with pytest.raises(ConfigError, match="hours"):
        serialize_stay(cohort, 1, mentions=pd.DataFrame({"stay_id": [1], "node_id": ["X:1"]}))


def test_nothing_after_the_prediction_time_reaches_the_text() -> None:
    cohort = _cohort()
    meds = pd.DataFrame({"stay_id": [1], "hours": [3.0], "drug": ["Vancomycin"]})
    before = {fmt: serialize_stay(cohort, 1, fmt=fmt, kg=_kg(), mentions=_mentions(), medications=meds)
              for fmt in ("list", "markdown")}
    late = _cohort()
    late.events = pd.concat([late.events, pd.DataFrame({
        "stay_id": [1, 1], "hours": [50.0, 49.0], "variable": ["potassium", "lactate"], "value": [9.9, 8.0],
        "unit": ["mmol/L", "mmol/L"]})], ignore_index=True).astype(late.events.dtypes.to_dict())
    late.notes = pd.concat([late.notes, pd.DataFrame({
        "note_id": ["n3"], "stay_id": [1], "hours": [60.0], "category": "Physician",
        "text": ["Comfort measures only."]})], ignore_index=True).astype(late.notes.dtypes.to_dict())
    late_mentions = pd.concat([_mentions(), pd.DataFrame({
        "note_id": ["n3", "n9"], "node_id": ["X:9", "X:8"], "text": ["comfort measures", "arrest"],
        "assertion": ["present", "present"]})], ignore_index=True)
    late_meds = pd.concat([meds, pd.DataFrame({"stay_id": [1], "hours": [55.0], "drug": ["Morphine"]})])
    for fmt, text in before.items():
        after = serialize_stay(late, 1, fmt=fmt, kg=_kg(), mentions=late_mentions, medications=late_meds)
        assert after == text
    # the same events count once the cut moves past them: the filter, not chance, hid them
    moved = serialize_stay(late, 1, fmt="list", prediction_hours=72, mentions=late_mentions, medications=late_meds)
    assert "Serum potassium: 9.9 mmol/L (high), min 4, max 9.9" in moved
    assert "comfort measures" in moved and "Morphine" in moved and "arrest" not in moved


def test_budget_drops_least_important_sections_first_and_is_deterministic() -> None:
    cohort = _cohort()
    meds = pd.DataFrame({"stay_id": [1, 1], "hours": [3.0, 4.0], "drug": ["Vancomycin", "Cefepime"]})
    full = serialize_stay(cohort, 1, fmt="list", token_budget=None, kg=_kg(), mentions=_mentions(),
                          medications=meds)
    count = make_token_counter(None)
    budget = count(full) - 4
    cut = serialize_stay(cohort, 1, fmt="list", token_budget=budget, kg=_kg(), mentions=_mentions(),
                         medications=meds)
    assert count(cut) <= budget < count(full)
    # routine lines go first: the negated finding, then normal values; abnormal ones stay
    assert "no Pneumonia" not in cut and "Cefepime" in cut and "Serum potassium" in cut
    smaller = serialize_stay(cohort, 1, fmt="list", token_budget=count(full) - 12, kg=_kg(),
                             mentions=_mentions(), medications=meds)
    assert "Cefepime" not in smaller and "Heart rate" in smaller and "Mechanical ventilation: yes" in smaller
    tiny = serialize_stay(cohort, 1, fmt="list", token_budget=12, kg=_kg(), mentions=_mentions(),
                          medications=meds)
    assert tiny.splitlines()[:2] == ["Demographics:", "Age: 71 years"] and "Medications" not in tiny
    assert tiny == serialize_stay(cohort, 1, fmt="list", token_budget=12, kg=_kg(), mentions=_mentions(),
                                  medications=meds)


def test_budget_counts_with_a_real_tokenizer(tmp_path: Path) -> None:
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "heart", "rate", ":", "##s"]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    count = make_token_counter(tokenizer)
    assert count("heart rate: rates") == 5
    text = serialize_stay(_cohort(), 1, fmt="markdown", token_budget=40, tokenizer=tokenizer)
    assert 0 < count(text) <= 40


def test_errors_name_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="window_hours"):
        serialize_stay(_cohort(window=None), 1)
    with pytest.raises(DataError, match="stay 7"):
        serialize_stay(_cohort(), 7)


def test_cli_prints_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = _cohort()
    cohort.save(tmp_path / "cohort")
    _mentions().to_csv(tmp_path / "mentions.csv", index=False)
    code = main(["serialize", "--cohort", str(tmp_path / "cohort"), "--stay", "1", "--format", "list",
                 "--mentions", str(tmp_path / "mentions.csv")])
    out = capsys.readouterr().out
    assert code == 0
    assert out == serialize_stay(Cohort.load(tmp_path / "cohort"), 1, fmt="list", mentions=_mentions()) + "\n"
    assert main(["serialize", "--cohort", str(tmp_path / "cohort"), "--stay", "99"]) == 1


def test_cli_reads_the_mentions_that_realm_extract_wrote_beside_the_cohort(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cohort().save(tmp_path / "cohort")
    argv = ["serialize", "--cohort", str(tmp_path / "cohort"), "--stay", "1", "--format", "list"]
    assert main(argv) == 0
    without = capsys.readouterr().out
    _mentions().to_parquet(tmp_path / "cohort" / "mentions.parquet", index=False)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no pneumonia" in out.splitlines() and "no pneumonia" not in without
    assert out == serialize_stay(Cohort.load(tmp_path / "cohort"), 1, fmt="list", mentions=_mentions()) + "\n"
