"""The one loader of hand-written rule tables (realm.resources.read_rule_table) and the
loaders built on it: comments, byte-order marks, line numbers in every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.errors import ConfigError, DataError
from realm.extract.context import load_context_rules
from realm.extract.sections import load_section_rules
from realm.harmonize.tasks import read_shots
from realm.kg.linker import load_abbreviations
from realm.resources import read_rule_table, resource_path


def _write(tmp_path: Path, text: str, name: str = "rules.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_comments_blank_lines_and_bom_are_skipped_and_lines_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeff# why these rules\nliteral,kind\n\n no , trigger\n# later\n"
                            '"two\nlines",pseudo\nshort\n')
    rows = read_rule_table(path, ("literal",))
    assert [(r.line, dict(r.values)) for r in rows] == [
        (4, {"literal": "no", "kind": "trigger"}),
        (6, {"literal": "two\nlines", "kind": "pseudo"}),
        (8, {"literal": "short"}),
    ]
    assert rows[2].get("kind") == "" and rows[0].path == path


def test_missing_column_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "# header below\nliteral,kind\nno,trigger\n")
    with pytest.raises(DataError, match=r"rules\.csv, row 2, field 'direction': missing column"):
        read_rule_table(path, ("literal", "direction"))
    with pytest.raises(DataError, match="no such rule table"):
        read_rule_table(tmp_path / "absent.csv")


@pytest.mark.parametrize("name", ["context_rules.csv", "sections.csv", "abbreviations.csv",
                                  "abbreviations_extract.csv", "surface_variants_extract.csv",
                                  "route_classes.csv", "harmonize_fluids.csv",
                                  "harmonize_class_anchors.csv", "harmonize_shots.csv"])
def test_packaged_tables_read(name: str) -> None:
    assert read_rule_table(resource_path(name))


@pytest.mark.parametrize(("loader", "text", "message"), [
    (load_context_rules, "literal,category,direction,kind\n# c\nno,negated,forward,trigger\nx,,forward,trigger\n",
     r"rules\.csv rule 4: a trigger needs a category"),
    (load_context_rules, "literal,category,direction,kind,max_scope\nno,negated,forward,trigger,two\n",
     r"rules\.csv rule 2: max_scope must be a whole number"),
    (load_section_rules, "# c\n# c\nheader,section\nFamily history,\n", r"rules\.csv row 4: needs 'header'"),
    (load_abbreviations, "abbreviation,expansion\nMI,myocardial infarction\n# c\nHTN,\n",
     r"rules\.csv row 4: needs 'abbreviation' and 'expansion'"),
])
def test_row_errors_name_the_file_line(tmp_path: Path, loader, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loader(_write(tmp_path, text))


def test_shots_errors_name_the_file_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufefftask,text,answer\nroute,PO,oral\n# c\nroute,IV,\n")
    with pytest.raises(DataError, match=r"rules\.csv, row 4: empty text or answer"):
        read_shots(path)
    assert [s.text for s in read_shots(_write(tmp_path, "task,text,answer\nroute,PO,oral\nx,IV,iv\n"),
                                       task="route")] == ["PO"]
