"""Reader for the PhysioNet/Computing in Cardiology Challenge 2012 ICU records.

``root`` holds ``set-X.tar.gz`` archives or unpacked ``set-X/`` folders of
``<RecordID>.txt`` files, plus one ``Outcomes-X.txt`` per set. Each record file is
``Time,Parameter,Value`` rows with ``Time`` as ``HH:MM`` since ICU admission. The first
rows at ``00:00`` named RecordID, Age, Gender, Height, ICUType and Weight are descriptors
(static facts about the stay); every other row is one measurement, mapped to a canonical
variable through the ``physionet2012`` column of ``realm/resources/variables.csv``.

``-1`` means "not recorded": a descriptor becomes NA, a measurement is skipped. Both are
counted in the :class:`QualityReport`, as are unknown parameters and measurements after
the prediction window. Rows are never dropped without a count.

SAPS-I and SOFA from the outcomes file are kept as the stays columns ``saps1`` and
``sofa`` for baseline comparisons and as auxiliary training targets only
(realm.features.aux_targets): clinicians compute them over the whole stay, so they must never
be a model input (they are not in ``events``).

Speed: every record's text is concatenated and parsed by one ``pandas.read_csv`` call;
per-file parsing would take minutes on the 8,000 records of sets A and B.
"""

from __future__ import annotations

import io
import logging
import math
import re
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from realm.data.cohort import Cohort
from realm.data.quality import QualityReport
from realm.errors import DataError
from realm.resources import load_variables

__all__ = [
    "read_physionet2012", "parse_records", "discover_sets", "RecordText", "ICU_TYPES", "DESCRIPTORS",
]

log = logging.getLogger(__name__)

SOURCE = "physionet2012"
HEADER = "Time,Parameter,Value"
DESCRIPTORS: tuple[str, ...] = ("RecordID", "Age", "Gender", "Height", "ICUType", "Weight")
ICU_TYPES: dict[int, str] = {
    1: "Coronary Care Unit",
    2: "Cardiac Surgery Recovery Unit",
    3: "Medical ICU",
    4: "Surgical ICU",
}
SEXES: dict[int, str] = {0: "F", 1: "M"}
OUTCOME_COLUMNS = ("RecordID", "SAPS-I", "SOFA", "Length_of_stay", "Survival", "In-hospital_death")
NOT_RECORDED = "not recorded (-1)"
_SET_NAME = re.compile(r"^set-([A-Za-z0-9]+)(\.tar\.gz)?$")


@dataclass(frozen=True)
class RecordText:
    """The raw text of one record file and where it came from (for error messages)."""

    set_name: str
    name: str  # e.g. "132539.txt"
    path: str  # archive or folder path, with the member name, for messages
    text: str


# -- finding and reading files -------------------------------------------------------------
def discover_sets(root: Path) -> dict[str, Path]:
    """Map each set letter found under ``root`` to its folder or ``.tar.gz`` archive.

    An unpacked folder wins over an archive of the same set: it is what the user edited last.
    """
    if not root.is_dir():
        raise DataError("PhysioNet 2012 root is not a folder", path=root)
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        match = _SET_NAME.match(entry.name)
        if not match:
            continue
        letter, is_tar = match.group(1), match.group(2) is not None
        if is_tar and entry.is_file() and letter not in found:
            found[letter] = entry
        elif not is_tar and entry.is_dir():
            found[letter] = entry
    return found


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from exc


def _iter_texts(set_name: str, location: Path) -> Iterator[RecordText]:
    """Yield the record files of one set, from a folder or a ``.tar.gz`` archive."""
    if location.is_dir():
        for file in sorted(location.glob("*.txt")):
            yield RecordText(set_name, file.name, str(file), _decode(file.read_bytes(), str(file)))
        return
    try:
        with tarfile.open(location, "r:gz") as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(".txt"):
                    continue
                fh = archive.extractfile(member)
                if fh is None:  # pragma: no cover - isfile() members always have data
                    continue
                where = f"{location}:{member.name}"
                yield RecordText(set_name, Path(member.name).name, where, _decode(fh.read(), where))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"unreadable tar.gz archive ({exc})", path=location) from exc


# -- parsing -------------------------------------------------------------------------------
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_HHMM = re.compile(r"^(\d+):([0-5]\d)$")


def _row_problem(line: str) -> tuple[str, str | None] | None:
    """Why one data row is malformed, as (reason, field; None: the row's shape); None when it
    is well formed.

    The slow, exact counterpart of the vectorised checks in :func:`parse_records`: it runs
    only on a file already known to hold a bad row, to name and count the row.
    """
    fields = line.split(",")
    if len(fields) != 3 or '"' in line:
        return "expected 3 comma-separated fields (Time,Parameter,Value)", None
    time, parameter, value = fields
    if not _HHMM.match(time):
        return "expected HH:MM", "Time"
    if not parameter.strip():
        return "empty parameter name", "Parameter"
    if not _NUMBER.match(value):
        return "not a number", "Value"
    if not math.isfinite(float(value)):
        return "not a finite number", "Value"
    return None


@dataclass
class _RowPolicy:
    """What happens to a malformed row: counted in ``quality`` and skipped, or (``strict``)
    a DataError naming file, row and field. A file with more than ``max_bad_fraction`` of
    its rows malformed is unreadable: a DataError, never a silently thinned record."""

    quality: QualityReport
    strict: bool
    max_bad_fraction: float

    def skip(self, record: RecordText, number: int, reason: str, field: str | None) -> None:
        if self.strict:
            raise DataError(reason, path=record.path, row=number, field=field)
        self.quality.add(f"set-{record.set_name}", field or HEADER, reason,
                         example=f"{record.name} row {number}")

    def check_share(self, record: RecordText, bad: int, total: int) -> None:
        if total and bad > self.max_bad_fraction * total:
            raise DataError(f"unreadable: {bad} of {total} rows malformed (more than "
                            f"{self.max_bad_fraction:.0%}; see the rows named with --strict)",
                            path=record.path)


def _lines(record: RecordText) -> list[str]:
    """The record's lines, header first; the header must be the expected one."""
    text = record.text.replace("\r\n", "\n").strip("\n")
    lines = text.split("\n")
    if lines[0].lstrip("\ufeff").strip() != HEADER:
        found = "a byte-order mark and " if lines[0].startswith("\ufeff") else ""
        raise DataError(f"expected header {HEADER!r}, found {found}{lines[0].lstrip(chr(0xFEFF))[:40]!r}",
                        path=record.path, row=1)
    return lines


def _prefixed(rows: list[str], index: int) -> str:
    """Rows as parser input: ``HH:MM`` split into two fields, each row prefixed by ``index``."""
    prefix = f"{index},"
    return prefix + "\n".join(rows).replace(":", ",").replace("\n", "\n" + prefix)


def _body(record: RecordText, index: int, policy: _RowPolicy) -> tuple[str, list[int] | None]:
    """The record's data rows as parser input, and the line numbers of the rows kept when a
    malformed row was skipped (None: every row kept, in order)."""
    lines = _lines(record)
    body = "\n".join(lines[1:])
    if not body:
        return "", None
    n_rows = len(lines) - 1
    # Whole-file counts run at C speed; only a file that fails them is read row by row.
    if (body.count(",") == 2 * n_rows and body.count(":") == n_rows and '"' not in body
            and "\n\n" not in body):
        return _prefixed(lines[1:], index), None
    return _clean_body(record, lines, index, policy)


def _clean_body(record: RecordText, lines: list[str], index: int,
                policy: _RowPolicy) -> tuple[str, list[int]]:
    """Row by row: malformed rows are counted and skipped (blank lines are not data)."""
    kept, numbers, bad = [], [], 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        problem = _row_problem(line)
        if problem is None:
            kept.append(line)
            numbers.append(number)
            continue
        policy.skip(record, number, *problem)
        bad += 1
    policy.check_share(record, bad, bad + len(kept))
    return (_prefixed(kept, index) if kept else ""), numbers


def _empty_parsed() -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series(dtype="int64"), "row": pd.Series(dtype="int64"),
                         "hours": pd.Series(dtype="float64"),
                         "parameter": pd.Series(dtype="object"),
                         "value": pd.Series(dtype="float64")})


def _read_bodies(bodies: list[str]) -> pd.DataFrame | None:
    """One C-speed parse of every body; None when some field does not convert."""
    try:
        return pd.read_csv(
            io.StringIO("\n".join(bodies)), header=None,
            names=["file", "hh", "mm", "parameter", "value"],
            dtype={"file": "int64", "hh": "int64", "mm": "int64", "parameter": "category",
                   "value": "float64"},
            keep_default_na=False, na_filter=False, engine="c",
        )
    except ValueError:
        return None


def parse_records(records: Sequence[RecordText], quality: QualityReport | None = None, *,
                  strict: bool = False, max_bad_fraction: float = 0.2) -> pd.DataFrame:
    """Parse record files into one long frame: ``file`` (index into ``records``), ``row``
    (1-based line in the file, header = 1), ``hours``, ``parameter``, ``value`` (float).

    A malformed row (bad time, empty parameter name, a value that is not a finite number)
    is counted in ``quality`` by set, field and reason, with the file and row as example,
    and skipped; parameter names padded with spaces are stripped and counted. ``strict``
    (or no ``quality`` report to count in) raises :class:`DataError` at the first malformed
    row instead. A file with more than ``max_bad_fraction`` of its rows malformed raises.
    """
    policy = _RowPolicy(quality if quality is not None else QualityReport(),
                        strict or quality is None, max_bad_fraction)
    bodies, kept_rows = [], {}
    for i, record in enumerate(records):
        body, numbers = _body(record, i, policy)
        if body:
            bodies.append(body)
        if numbers is not None:
            kept_rows[i] = numbers
    frame = _read_bodies(bodies) if bodies else None
    if bodies and frame is None:
        # a field that passed the whole-file counts did not convert: read every file row by row
        bodies = []
        for i, record in enumerate(records):
            if i in kept_rows:  # already cleaned (its problems are counted)
                lines = _lines(record)
                body = _prefixed([lines[n - 1] for n in kept_rows[i]], i) if kept_rows[i] else ""
            else:
                body, kept_rows[i] = _clean_body(record, _lines(record), i, policy)
            if body:
                bodies.append(body)
        frame = _read_bodies(bodies) if bodies else None
        if bodies and frame is None:
            raise DataError("records failed to parse although every row passed the row checks",
                            path=records[0].path)
    if frame is None:
        return _empty_parsed()
    # Rows stay in file order, so a running count per file recovers each row's line number
    # (through the kept line numbers where a file lost rows).
    row = (frame.groupby("file", sort=False).cumcount() + 2).to_numpy().copy()
    for i, numbers in kept_rows.items():
        at = (frame["file"] == i).to_numpy()
        row[at] = np.asarray(numbers, dtype=np.int64)[row[at] - 2]
    frame = frame.assign(row=row)
    frame = _clean_parameters(frame, records, policy)
    checks = ((lambda f: (f["mm"] < 0) | (f["mm"] > 59) | (f["hh"] < 0), "expected HH:MM", "Time"),
              (lambda f: ~np.isfinite(f["value"]), "not a finite number", "Value"))
    for test, reason, field in checks:
        bad = test(frame)
        for index in np.flatnonzero(bad.to_numpy()):
            policy.skip(records[int(frame["file"].iat[index])], int(frame["row"].iat[index]),
                        reason, field)
        frame = frame[~bad]
    return pd.DataFrame({"file": frame["file"], "row": frame["row"],
                         "hours": frame["hh"] + frame["mm"] / 60.0,
                         "parameter": frame["parameter"], "value": frame["value"]})


def _clean_parameters(frame: pd.DataFrame, records: Sequence[RecordText],
                      policy: _RowPolicy) -> pd.DataFrame:
    """Strip padded parameter names (counted) and skip rows whose name is empty (counted)."""
    names = frame["parameter"].cat.categories
    padded = [name for name in names if name != name.strip()]
    if padded:
        rows = frame[frame["parameter"].isin(padded)]
        for (file, name), part in rows.groupby(["file", "parameter"], observed=True, sort=True):
            record = records[int(file)]
            policy.quality.add(f"set-{record.set_name}", name.strip() or "Parameter",
                               "parameter name padded with spaces, stripped", len(part),
                               example=f"{record.name} row {int(part['row'].iat[0])}")
        stripped = frame["parameter"].astype(str).str.strip()
        frame = frame.assign(parameter=stripped.astype("category"))
    empty = (frame["parameter"] == "").to_numpy()
    for index in np.flatnonzero(empty):
        policy.skip(records[int(frame["file"].iat[index])], int(frame["row"].iat[index]),
                    "empty parameter name", "Parameter")
    return frame[~empty]


# -- outcomes ------------------------------------------------------------------------------
def _read_outcomes(path: Path) -> pd.DataFrame:
    """Read ``Outcomes-X.txt``; every field must be an integer."""
    if not path.is_file():
        raise DataError("missing outcomes file", path=path)
    lines = path.read_text(encoding="utf-8").replace("\r\n", "\n").strip("\n").split("\n")
    header = [c.strip() for c in lines[0].split(",")]
    missing = [c for c in OUTCOME_COLUMNS if c not in header]
    if missing:
        raise DataError("missing column", path=path, row=1, field=missing[0])
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != len(header):
            raise DataError(f"expected {len(header)} fields, found {len(fields)}", path=path,
                            row=number)
        try:
            rows.append([int(float(f)) for f in fields])
        except ValueError as exc:
            raise DataError(f"not a number ({exc})", path=path, row=number) from exc
    table = pd.DataFrame(rows, columns=header, dtype="int64")[list(OUTCOME_COLUMNS)]
    if table["RecordID"].duplicated().any():
        dup = int(table.loc[table["RecordID"].duplicated(), "RecordID"].iloc[0])
        raise DataError(f"RecordID {dup} appears twice", path=path, field="RecordID")
    return table


# -- assembling the cohort -----------------------------------------------------------------
def _descriptors(parsed: pd.DataFrame, records: Sequence[RecordText],
                 quality: QualityReport) -> tuple[pd.DataFrame, pd.Series]:
    """Split descriptor rows from measurements; return one descriptor row per file and the
    mask of measurement rows. Only the first 00:00 row of each descriptor name counts:
    a later ``Weight`` row is a measurement of the time-series variable."""
    candidate = (parsed["hours"] == 0) & parsed["parameter"].isin(DESCRIPTORS)
    first = candidate & ~parsed[candidate].duplicated(["file", "parameter"]).reindex(
        parsed.index, fill_value=True)
    wide = parsed[first].pivot(index="file", columns="parameter", values="value")
    wide = wide.reindex(index=range(len(records)), columns=list(DESCRIPTORS))
    no_id = np.flatnonzero(wide["RecordID"].isna().to_numpy())
    if len(no_id):
        raise DataError("no RecordID descriptor at 00:00", path=records[no_id[0]].path,
                        field="RecordID")
    for name in DESCRIPTORS[1:]:
        unrecorded = wide[name] == -1
        for set_name, n in pd.Series([records[i].set_name for i in wide.index[unrecorded]],
                                     dtype=object).value_counts().items():
            quality.add(f"set-{set_name}", name, f"descriptor {NOT_RECORDED}, kept as NA", int(n))
        wide.loc[unrecorded, name] = np.nan
    seen: dict[int, str] = {}
    for record, rid in zip(records, wide["RecordID"].astype("int64")):
        if record.name[:-4].isdigit() and int(record.name[:-4]) != rid:
            raise DataError(f"RecordID {rid} differs from the file name", path=record.path,
                            field="RecordID")
        if rid in seen:
            raise DataError(f"RecordID {rid} also in {seen[rid]}", path=record.path,
                            field="RecordID")
        seen[rid] = record.path
    return wide, ~first


def _events(parsed: pd.DataFrame, keep: pd.Series, stay_ids: np.ndarray,
            records: Sequence[RecordText], window_hours: float,
            quality: QualityReport) -> pd.DataFrame:
    """Canonical events from measurement rows; count every row that is left out."""
    variables = load_variables()
    to_name = {v.physionet2012: v.name for v in variables.values() if v.physionet2012}
    units = {v.name: v.unit for v in variables.values()}
    rows = parsed[keep]
    sets = np.array([f"set-{r.set_name}" for r in records], dtype=object)

    def count(mask: pd.Series, reason: str) -> None:
        sub = rows[mask]
        if sub.empty:
            return
        groups = pd.DataFrame({"set": sets[sub["file"].to_numpy()],
                               "field": sub["parameter"].astype(str).to_numpy()},
                              index=sub.index)
        for (set_name, field), part in groups.groupby(["set", "field"], sort=True):
            first = sub.loc[part.index[0]]
            example = f"{records[int(first['file'])].name} row {int(first['row'])}"
            quality.add(set_name, field, reason, len(part), example=example)

    # Map the few distinct parameter names, not the millions of rows.
    categories = rows["parameter"].cat.categories
    codes = rows["parameter"].cat.codes.to_numpy()
    names_by_code = np.array([to_name.get(c) for c in categories] + [None], dtype=object)
    units_by_code = np.array([units.get(to_name.get(c, "")) for c in categories] + [None],
                             dtype=object)
    variable = pd.Series(names_by_code[codes], index=rows.index)
    unknown = variable.isna()
    count(unknown, "unknown parameter")
    unrecorded = ~unknown & (rows["value"] == -1)
    count(unrecorded, NOT_RECORDED)
    late = ~unknown & ~unrecorded & (rows["hours"] > window_hours)
    count(late, f"after the {window_hours:g} h window")
    use = ~(unknown | unrecorded | late)
    kept = rows[use]
    kept_codes = codes[use.to_numpy()]
    ids = stay_ids[kept["file"].to_numpy()]
    hours = kept["hours"].to_numpy()
    order = np.lexsort((hours, ids))  # by stay, then time; ties keep file order
    return pd.DataFrame({
        "stay_id": ids[order],
        "hours": hours[order].astype("float32"),
        "variable": names_by_code[kept_codes[order]],
        "value": kept["value"].to_numpy()[order],
        "unit": units_by_code[kept_codes[order]],
    })


def _stays_and_labels(wide: pd.DataFrame, records: Sequence[RecordText],
                      outcomes: pd.DataFrame, quality: QualityReport
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = wide["RecordID"].astype("int64").to_numpy()
    stays = pd.DataFrame({
        "stay_id": ids,
        "subject_id": ids,  # one stay per patient in the challenge data
        "age": wide["Age"].to_numpy(),
        "sex": wide["Gender"].map(SEXES).astype("string").to_numpy(),
        "icu_type": wide["ICUType"].map(ICU_TYPES).astype("string").to_numpy(),
        "height": wide["Height"].to_numpy(),
        "weight": wide["Weight"].to_numpy(),
        "source": SOURCE,
        "set": pd.array([r.set_name for r in records], dtype="string"),
    })
    for column, table, field in (("sex", SEXES, "Gender"), ("icu_type", ICU_TYPES, "ICUType")):
        odd = wide[field].notna().to_numpy() & ~wide[field].isin(list(table)).to_numpy()
        for i in np.flatnonzero(odd):
            quality.add(f"set-{records[i].set_name}", field, "unknown code, kept as NA",
                        example=records[i].name)
    merged = stays[["stay_id", "set"]].merge(outcomes, how="left", left_on="stay_id",
                                             right_on="RecordID", validate="one_to_one")
    for set_name, n in merged.loc[merged["RecordID"].isna(), "set"].value_counts().items():
        quality.add(f"Outcomes-{set_name}.txt", "RecordID", "record without an outcome row",
                    int(n))
    los = merged["Length_of_stay"]
    for set_name, n in merged.loc[los == -1, "set"].value_counts().items():
        quality.add(f"Outcomes-{set_name}.txt", "Length_of_stay", f"{NOT_RECORDED}, kept as NA",
                    int(n))
    stays["los_hours"] = los.where(los != -1).astype("float64").to_numpy() * 24.0
    # Severity scores for baselines only; never a model input (see the module docstring).
    stays["saps1"] = merged["SAPS-I"].where(merged["SAPS-I"] != -1).astype("Float64").to_numpy()
    stays["sofa"] = merged["SOFA"].where(merged["SOFA"] != -1).astype("Float64").to_numpy()
    death = merged["In-hospital_death"]
    odd = merged.loc[death.notna() & ~death.isin([0, 1]), "set"]
    for set_name, n in odd.value_counts().items():
        quality.add(f"Outcomes-{set_name}.txt", "In-hospital_death", "not 0/1, label kept as NA",
                    int(n))
    labels = pd.DataFrame({
        "stay_id": ids,
        "mortality": death.where(death.isin([0, 1])).astype("Int8").to_numpy(),
        "readmission_30d": pd.array([pd.NA] * len(ids), dtype="Int8"),  # not in this source
    })
    return stays, labels


def read_physionet2012(root: Path, *, sets: Sequence[str] | None = None,
                       window_hours: float = 48.0, progress: bool = True,
                       strict: bool = False, max_bad_fraction: float = 0.2) -> Cohort:
    """Read PhysioNet 2012 sets under ``root`` (``sets=None``: every set found) as a cohort.

    Malformed rows are counted in the cohort's quality report and skipped (``strict``: the
    first one is a DataError); see :func:`parse_records`."""
    root = Path(root)
    available = discover_sets(root)
    wanted = sorted(available) if sets is None else list(dict.fromkeys(str(s) for s in sets))
    if not wanted:
        raise DataError("no set-X.tar.gz archive or set-X/ folder found", path=root)
    for letter in wanted:
        if letter not in available:
            raise DataError(f"set {letter!r} not found (have {sorted(available)})", path=root)
    outcomes = pd.concat([_read_outcomes(root / f"Outcomes-{s}.txt") for s in wanted],
                         ignore_index=True)
    records: list[RecordText] = []
    with tqdm(desc="PhysioNet 2012 records", unit="file", disable=not progress) as bar:
        for letter in wanted:
            for record in _iter_texts(letter, available[letter]):
                records.append(record)
                bar.update()
    if not records:
        raise DataError("no record files found", path=root)
    log.info("parsing %d PhysioNet 2012 records from sets %s", len(records), ",".join(wanted))
    quality = QualityReport()
    parsed = parse_records(records, quality, strict=strict, max_bad_fraction=max_bad_fraction)
    wide, measurements = _descriptors(parsed, records, quality)
    stays, labels = _stays_and_labels(wide, records, outcomes, quality)
    events = _events(parsed, measurements, stays["stay_id"].to_numpy(), records,
                     window_hours, quality)
    meta = {
        "source": SOURCE,
        "window_hours": float(window_hours),
        "sets": wanted,
        "reader": {"name": "realm.data.readers.physionet2012", "sets": wanted,
                   "window_hours": float(window_hours)},
        "variables": sorted(events["variable"].unique().tolist()),
        "never_model_inputs": ["saps1", "sofa"],
    }
    no_notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    cohort = Cohort(stays=stays, events=events, notes=no_notes, labels=labels, meta=meta,
                    quality=quality)
    cohort.validate(window_hours)
    return cohort
