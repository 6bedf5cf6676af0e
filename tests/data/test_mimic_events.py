"""The bounded-memory event scan shared by the MIMIC readers (realm.data.readers.mimic_events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mimic_fixtures import write_mimic3

from realm.data.readers import mimic, mimic_events
from realm.errors import DataError
from realm.resources import load_variables, resource_path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_mimic3(tmp_path_factory.mktemp("m3") / "mimic3", gz=True)


def _events_given_to_build_cohort(root, monkeypatch) -> pd.DataFrame:
    """The events frame as the collector hands it over, before Cohort casts it."""
    seen: dict[str, pd.DataFrame] = {}
    real = mimic.build_cohort

    def spy(stays, events, *args, **kwargs):
        seen["events"] = events
        return real(stays, events, *args, **kwargs)

    monkeypatch.setattr(mimic, "build_cohort", spy)
    mimic.read_mimic(root, "mimic3", progress=False)
    return seen["events"]


def test_batch_size_does_not_change_the_result(root, monkeypatch) -> None:
    whole = mimic.read_mimic(root, "mimic3", progress=False)
    monkeypatch.setattr(mimic_events, "BATCH_ROWS", 2)  # many batches, most groups split
    batched = mimic.read_mimic(root, "mimic3", progress=False)
    pd.testing.assert_frame_equal(whole.events, batched.events)
    assert whole.quality.to_dict() == batched.quality.to_dict()
    assert whole.quality.total() > 0  # the fixture has dropped rows to count


def test_unconvertible_examples_survive_batching(root, monkeypatch) -> None:
    monkeypatch.setattr(mimic_events, "BATCH_ROWS", 1)
    c = mimic.read_mimic(root, "mimic3", progress=False)
    problems = {p["reason"]: p for p in c.quality.to_dict()["problems"]}
    assert problems["gcs_motor: value cannot be converted"]["examples"] == ["Garbage"]
    assert problems["lactate: value cannot be converted"]["examples"] == ["ERROR"]


def test_events_arrive_sorted_compact_and_categorical(root, monkeypatch) -> None:
    ev = _events_given_to_build_cohort(root, monkeypatch)
    assert isinstance(ev["variable"].dtype, pd.CategoricalDtype)
    assert isinstance(ev["unit"].dtype, pd.CategoricalDtype)
    names = list(ev["variable"].cat.categories)
    assert names == sorted(names)  # code order is name order, so sorting by code is by name
    order = np.lexsort((ev["value"], ev["variable"].cat.codes, ev["hours"], ev["stay_id"]))
    assert (order == np.arange(len(ev))).all()
    units = {name: var.unit for name, var in load_variables().items()}
    assert all(units[v] == u for v, u in zip(ev["variable"].astype(str), ev["unit"].astype(str)))
    # 22 bytes per event whatever the names: int64 + float32 + float64 + two int8 codes.
    per_event = sum(ev[c].to_numpy().itemsize for c in ("stay_id", "hours", "value")) + sum(
        ev[c].cat.codes.dtype.itemsize for c in ("variable", "unit"))
    assert per_event == 22


def test_duplicate_itemid_in_map_names_the_row(tmp_path, monkeypatch) -> None:
    text = resource_path("mimic3_itemids.csv").read_text()
    header, first, *rest = text.splitlines()
    bad = tmp_path / "mimic3_itemids.csv"
    bad.write_text("\n".join([header, first, *rest, first]) + "\n")
    monkeypatch.setattr(mimic_events, "resource_path", lambda name: bad)
    with pytest.raises(DataError, match=rf"row {len(rest) + 3}.*listed twice"):
        mimic_events.load_itemids("mimic3_itemids.csv", None)


def test_unknown_conversion_in_map_names_the_row(tmp_path, monkeypatch) -> None:
    text = resource_path("mimic3_itemids.csv").read_text().replace(",f_to_c,", ",furlongs,", 1)
    bad = tmp_path / "mimic3_itemids.csv"
    bad.write_text(text)
    monkeypatch.setattr(mimic_events, "resource_path", lambda name: bad)
    with pytest.raises(DataError, match=r"row \d+, field 'conversion': unknown conversion 'furlongs'"):
        mimic_events.load_itemids("mimic3_itemids.csv", None)
