"""Bad MEDS input: clear errors naming the file and field, or counted entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realm.data.meds import export_meds, load_mapping, read_meds
from realm.data.meds.export import ANCHOR
from realm.data.meds.mapping import packaged_mapping
from realm.errors import DataError
from tests.data.meds.meds_fixtures import physionet_cohort, realm_mapping


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    return export_meds(physionet_cohort(root), root / "meds")


@pytest.fixture()
def meds_dir(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the export, for one test to damage."""
    return Path(shutil.copytree(exported, tmp_path / "meds"))


def _shard(root: Path) -> Path:
    return sorted((root / "data").rglob("*.parquet"))[0]


def _read(root: Path, **kwargs: object):
    return read_meds(root, realm_mapping(), progress=False, **kwargs)


def test_missing_metadata_folder(meds_dir: Path) -> None:
    shutil.rmtree(meds_dir / "metadata")
    with pytest.raises(DataError, match="metadata"):
        _read(meds_dir)


@pytest.mark.parametrize(("change", "column"), [
    (lambda t: t.set_column(t.schema.get_field_index("numeric_value"), "numeric_value",
                            t.column("numeric_value").cast(pa.float64())), "numeric_value"),
    (lambda t: t.drop_columns(["code"]), "code"),
    (lambda t: t.set_column(0, "subject_id", t.column("subject_id").cast(pa.string())),
     "subject_id"),
])
def test_wrong_dtype_or_missing_column_names_shard_and_field(meds_dir: Path, change,
                                                             column: str) -> None:
    shard = _shard(meds_dir)
    pq.write_table(change(pq.read_table(shard)), shard)
    with pytest.raises(DataError) as error:
        _read(meds_dir)
    assert error.value.field == column and error.value.path == str(shard)


def test_unmapped_codes_are_counted_per_code(meds_dir: Path) -> None:
    shard = _shard(meds_dir)
    table = pq.read_table(shard)
    extra = table.slice(0, 3).to_pandas()
    extra["code"] = ["SITE//X", "SITE//X", "SITE//Y"]
    pq.write_table(pa.concat_tables([table, pa.Table.from_pandas(extra, schema=table.schema,
                                                                 preserve_index=False)]), shard)
    report = _read(meds_dir).quality.to_dict()
    problems = {row["reason"]: row["count"] for row in report["problems"]}
    assert problems == {"code 'SITE//X' not in mapping 'realm_export'": 2,
                        "code 'SITE//Y' not in mapping 'realm_export'": 1}


def test_labels_outside_a_stay_or_before_the_window_are_counted(meds_dir: Path) -> None:
    labels = meds_dir / "labels"
    file = sorted((labels / "mortality").rglob("*.parquet"))[0]
    table = pq.read_table(file)
    subject = table.column("subject_id")[0].as_py()
    odd = pd.DataFrame({"subject_id": [subject, subject],
                        "prediction_time": [ANCHOR - pd.Timedelta(days=30),
                                            ANCHOR + pd.Timedelta(hours=12)],
                        "boolean_value": [True, True]})
    pq.write_table(pa.concat_tables([table, pa.Table.from_pandas(
        odd, schema=table.schema, preserve_index=False)]), file)
    cohort = _read(meds_dir, labels_dir=labels)
    problems = {row["reason"]: row["count"] for row in cohort.quality.to_dict()["problems"]}
    assert problems == {"outside every ICU stay": 1, "before ICU admission + 48.0 h": 1}
    # The stay keeps its real label.
    original = table.to_pandas().set_index("subject_id")["boolean_value"]
    got = cohort.labels.set_index("stay_id")["mortality"]
    assert int(got[subject]) == int(original[subject])


def test_a_subject_in_two_splits(meds_dir: Path) -> None:
    path = meds_dir / "metadata" / "subject_splits.parquet"
    table = pq.read_table(path)
    splits = table.to_pandas()
    other = "held_out" if splits["split"].iloc[0] != "held_out" else "train"
    twice = pd.concat([splits, splits.head(1).assign(split=other)])
    pq.write_table(pa.Table.from_pandas(twice, schema=table.schema, preserve_index=False), path)
    with pytest.raises(DataError) as error:
        _read(meds_dir)
    assert error.value.field == "subject_id" and error.value.path == str(path)


def test_a_mapping_id_column_the_data_lacks(meds_dir: Path) -> None:
    shard = _shard(meds_dir)
    pq.write_table(pq.read_table(shard).drop_columns(["note_id"]), shard)
    with pytest.raises(DataError) as error:
        _read(meds_dir)
    assert error.value.field == "note_id"


def test_without_id_columns_stays_are_found_by_time(meds_dir: Path, tmp_path: Path) -> None:
    """A dataset that keeps no realm ids (as most MEDS ETLs): stays come from the ICU
    admission codes and rows attach to the stay they follow."""
    text = packaged_mapping("realm_export").read_text()
    kept = [line for line in text.splitlines() if not line.split(":")[0].endswith("_id_column")]
    file = tmp_path / "no_ids.yaml"
    file.write_text("\n".join(kept))
    with_ids = _read(meds_dir, labels_dir=meds_dir / "labels")
    by_time = read_meds(meds_dir, load_mapping(file), labels_dir=meds_dir / "labels",
                        progress=False)
    assert len(by_time.stays) == len(with_ids.stays)
    # Generated stay ids: subject_id × 1000 + k.
    assert sorted(by_time.stays["stay_id"]) == sorted(with_ids.stays["subject_id"] * 1000)
    assert len(by_time.events) == len(with_ids.events)
    assert by_time.labels["mortality"].tolist() == with_ids.labels["mortality"].tolist()


@pytest.mark.parametrize(("yaml", "field"), [
    ("icu_discharge: {code: X}\n", "icu_admission"),
    ("icu_admission: {code: A}\nicu_discharge: {code: B}\nsurprise: 1\n", "surprise"),
    ("icu_admission: {pattern: '('}\nicu_discharge: {code: B}\n", "icu_admission"),
    ("icu_admission: {code: A}\nicu_discharge: {code: B}\ntime_series: [{pattern: '^L//.+$'}]\n",
     "time_series[0]"),
    ("icu_admission: {code: A}\nicu_discharge: {code: B}\n"
     "stay_attributes: [{code: X, column: favourite_colour}]\n", "stay_attributes[0]"),
    ("icu_admission: {code: A}\nicu_discharge: {code: B}\n"
     "time_series: [{code: T, variable: temperature, conversion: kelvin}]\n", "time_series[0]"),
    ("icu_admission: {code: A}\nicu_discharge: {code: B}\n"
     "notes: [{code: N, category: x, conversion: f_to_c}]\n", "notes[0]"),
])
def test_bad_mapping_files_name_the_entry(tmp_path: Path, yaml: str, field: str) -> None:
    file = tmp_path / "mapping.yaml"
    file.write_text(yaml)
    with pytest.raises(DataError) as error:
        load_mapping(file)
    assert error.value.field == field and error.value.path == str(file)


def test_a_shorter_window_cuts_and_counts(exported: Path) -> None:
    """Nothing after the prediction window reaches the cohort; what is cut is counted.
    Labels predicted later than the window still attach (no feature sees past them)."""
    full = _read(exported, labels_dir=exported / "labels")
    short = _read(exported, labels_dir=exported / "labels", window_hours=1.0)
    assert short.events["hours"].max() <= 1.0
    cut = int((full.events["hours"] > 1.0).sum())
    assert cut > 0
    problems = {(row["field"], row["reason"]): row["count"]
                for row in short.quality.to_dict()["problems"]}
    assert problems[("time_series", "after the prediction window")] == cut
    assert short.labels["mortality"].tolist() == full.labels["mortality"].tolist()


def test_a_label_without_a_value(meds_dir: Path) -> None:
    file = sorted((meds_dir / "labels" / "mortality").rglob("*.parquet"))[0]
    table = pq.read_table(file)
    empty = pa.array([None] * len(table), pa.bool_())
    pq.write_table(table.set_column(2, "boolean_value", empty), file)
    with pytest.raises(DataError) as error:
        _read(meds_dir, labels_dir=meds_dir / "labels")
    assert error.value.field == "boolean_value" and error.value.path == str(file)


def test_a_shard_without_icu_stays_is_counted(meds_dir: Path) -> None:
    shard = _shard(meds_dir)
    table = pq.read_table(shard)
    extra = table.slice(0, 2).to_pandas().assign(subject_id=999_999, code="LAB//heart_rate//bpm",
                                                 time=ANCHOR, numeric_value=80.0)
    lonely = shard.parent / "9.parquet"
    pq.write_table(pa.Table.from_pandas(extra, schema=table.schema, preserve_index=False), lonely)
    problems = {(row["field"], row["reason"]): row["count"]
                for row in _read(meds_dir).quality.to_dict()["problems"]}
    assert problems == {("time_series", "no ICU stay to attach to (before any ICU admission)"): 2}
