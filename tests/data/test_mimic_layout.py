"""MIMIC table layouts (realm/data/readers/layouts/*.yaml): loaded, checked, and read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mimic_fixtures import write_mimic3

from realm.data.readers.mimic import read_mimic
from realm.data.readers.mimic_layout import LAYOUT_DIR, load_layout
from realm.errors import ConfigError


@pytest.mark.parametrize("name", ["mimic3", "mimic4"])
def test_shipped_layouts_load(name: str) -> None:
    layout = load_layout(name)
    assert layout.source == name and layout.itemids == f"{name}_itemids.csv"
    assert layout.tables["chartevents"].options["join"] in ("stay", "hadm_stay")


def _edited(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((LAYOUT_DIR / "mimic3.yaml").read_text())
    edit(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("edit", "key"), [
    (lambda r: r["tables"]["patients"]["columns"].pop("subject_id"), "tables.patients.columns.subject_id"),
    (lambda r: r["tables"]["icustays"]["columns"].update(bed="BED"), "tables.icustays.columns.bed"),
    (lambda r: r["tables"]["chartevents"].update(join="bed"), "tables.chartevents.join"),
    (lambda r: r["tables"].pop("labevents"), "tables.labevents"),
    (lambda r: r["tables"]["patients"].update(optional=True), "tables.patients.optional"),
    (lambda r: r["tables"]["notes"]["types"].update(note_id="BIGINTEGER"), "tables.notes.types.note_id"),
    (lambda r: r["tables"].update(transfers={"file": "TRANSFERS"}), "tables.transfers"),
    (lambda r: r["age"].update(rule="anchor_year"), "tables.patients.columns.anchor_age"),
    (lambda r: r.update(itemids="mimic9_itemids.csv"), "itemids"),
    (lambda r: r.update(extra=1), "extra"),
    (lambda r: r["tables"]["notes"].pop("exclude_reason"), "tables.notes.exclude_reason"),
    (lambda r: r["tables"]["notes"].update(category="Nursing"), "tables.notes.category"),
])
def test_layout_errors_name_file_and_key(tmp_path: Path, edit, key: str) -> None:
    path = _edited(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_layout(path)
    assert str(path) in str(info.value) and f"{key}:" in str(info.value)


def test_unknown_layout_name() -> None:
    with pytest.raises(ConfigError, match="mimic3, mimic4"):
        load_layout("mimic5")


def test_a_layout_renames_columns(tmp_path: Path) -> None:
    """A source whose ICU stays call the stay id STAY reads once the layout says so."""
    root = write_mimic3(tmp_path / "m3", gz=False)
    icu = root / "ICUSTAYS.csv"
    header, *rows = icu.read_text().splitlines(keepends=True)
    icu.write_text(header.replace("ICUSTAY_ID", "STAY") + "".join(rows))
    path = _edited(tmp_path, lambda r: r["tables"]["icustays"]["columns"].update(stay_id="STAY"))
    expected = read_mimic(write_mimic3(tmp_path / "plain", gz=False), "mimic3", progress=False)
    got = read_mimic(root, path, progress=False)
    assert got.stays["stay_id"].tolist() == expected.stays["stay_id"].tolist()
    assert len(got.events) == len(expected.events)
