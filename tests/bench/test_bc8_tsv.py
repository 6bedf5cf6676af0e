"""The BioCreative VIII TSV reader/writer: round trip (hypothesis) and malformed rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.errors import DataError
from realm.bench.bc8.data import Finding, Observation, parse_spans, read_bc8, split_observations, write_bc8

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40)


@st.composite
def observations(draw: st.DrawFn) -> list[Observation]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        text = draw(_text)
        findings = []
        for _ in range(draw(st.integers(0, 3))):
            cuts = sorted(draw(st.sets(st.integers(0, len(text)), min_size=2, max_size=6)))
            pairs = tuple((a, b) for a, b in zip(cuts[::2], cuts[1::2]) if a < b)
            if pairs:
                findings.append(Finding(f"HP:{draw(st.integers(0, 9999999)):07d}", pairs, draw(st.booleans())))
        out.append(Observation(f"id{i}", text, tuple(findings), draw(st.integers(1, 9))))
    return out


@settings(max_examples=60, deadline=None)
@given(observations())
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, obs: list[Observation]) -> None:
    path = write_bc8(obs, tmp_path_factory.mktemp("bc8") / "x.tsv")
    assert read_bc8(path) == obs


def test_discontinuous_spans_and_na_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(
        "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"
        "a\t1\tEYES: mild up-slant\tHP:0000582\tNA\t0-4,11-19\n"
        "b\t2\tHEAD: AF closed\tNA\tNA\tNA\n"
    )
    a, b = read_bc8(path)
    assert a.findings == (Finding("HP:0000582", ((0, 4), (11, 19)), False),)
    assert b.findings == () and b.participant_count == 2
    assert parse_spans("0-4,23-36") == ((0, 4), (23, 36))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("a\t1\tEARS: low\tHP:1\tNA\t4-2", "Spans"),
        ("a\t1\tEARS: low\tHP:1\tNA\t0-99", "Spans"),
        ("a\t1\tEARS: low\tHP:1\tmaybe\t0-4", "Negated"),
        ("a\tone\tEARS: low\tHP:1\tNA\t0-4", "ParticipantCount"),
        ("a\t1\tEARS: low\tHP:1", None),
    ],
)
def test_malformed_rows_name_file_and_row(tmp_path: Path, row: str, field: str | None) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n" + row + "\n")
    with pytest.raises(DataError) as err:
        read_bc8(path)
    assert "bad.tsv" in str(err.value) and "row 2" in str(err.value)
    assert "EARS" not in str(err.value)  # never the note text
    if field:
        assert err.value.field == field


def test_split_is_by_observation_and_seeded() -> None:
    obs = [Observation(f"o{i}", "t") for i in range(50)]
    train, dev = split_observations(obs, dev_fraction=0.2, seed=3)
    assert len(dev) == 10 and not {o.string_id for o in train} & {o.string_id for o in dev}
    assert split_observations(obs, dev_fraction=0.2, seed=3) == (train, dev)
    assert split_observations(obs, dev_fraction=0.2, seed=4)[1] != dev
