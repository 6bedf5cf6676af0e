"""mentions.parquet and mentions_meta.json are one result: a kill between their two renames
must never pair new mentions with old metadata unseen."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import realm.extract.mentions_table as table_module
from realm.errors import DataError
from realm.extract.mentions_table import (META_FILE, MENTIONS_FILE, conform_mentions, mentions_meta,
                                          write_mentions)
from realm.features.record import load_mentions


def _table(n: int) -> pd.DataFrame:
    return conform_mentions(pd.DataFrame({"stay_id": range(n), "text": [f"t{i}" for i in range(n)],
                                          "node_id": ["X:1"] * n}))


def test_a_written_pair_reads_back(tmp_path: Path) -> None:
    path = write_mentions(_table(2), {"kg": {"version": "v1"}, "counts": {"notes": 2}}, tmp_path)
    assert path == tmp_path / MENTIONS_FILE
    assert mentions_meta(path) == {"kg": {"version": "v1"}, "counts": {"notes": 2}}
    assert len(load_mentions(path)) == 2


def test_a_kill_between_the_two_renames_is_never_read_as_a_pair(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_mentions(_table(2), {"run": "old"}, tmp_path)
    real = table_module.pq.write_table

    def killed(*args: object, **kwargs: object) -> None:  # the process dies after the first file
        raise KeyboardInterrupt

    monkeypatch.setattr(table_module.pq, "write_table", killed)
    with pytest.raises(KeyboardInterrupt):
        write_mentions(_table(3), {"run": "new"}, tmp_path)
    monkeypatch.setattr(table_module.pq, "write_table", real)
    # the new metadata landed beside the old table: both readers refuse the pair
    assert json.loads((tmp_path / META_FILE).read_text())["run"] == "new"
    assert len(pd.read_parquet(tmp_path / MENTIONS_FILE)) == 2
    with pytest.raises(DataError, match="not from the same run.*re-run realm extract"):
        mentions_meta(tmp_path / MENTIONS_FILE)
    with pytest.raises(DataError, match="mentions.parquet"):
        load_mentions(tmp_path / MENTIONS_FILE)
    assert not list(tmp_path.glob(".*.tmp"))
    # the rerun publishes a complete pair
    write_mentions(_table(3), {"run": "new"}, tmp_path)
    assert mentions_meta(tmp_path / MENTIONS_FILE) == {"run": "new"}
    assert len(load_mentions(tmp_path / MENTIONS_FILE)) == 3


def test_a_missing_or_swapped_half_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_mentions(_table(1), {"run": "a"}, a)
    write_mentions(_table(1), {"run": "b"}, b)
    (b / META_FILE).replace(a / META_FILE)
    with pytest.raises(DataError, match="not from the same run"):
        mentions_meta(a / MENTIONS_FILE)
    with pytest.raises(DataError, match="not from the same run"):
        mentions_meta(b / MENTIONS_FILE)


def test_a_table_from_elsewhere_has_no_metadata(tmp_path: Path) -> None:
    _table(2).to_parquet(tmp_path / MENTIONS_FILE)
    assert mentions_meta(tmp_path / MENTIONS_FILE) is None
    assert len(load_mentions(tmp_path / MENTIONS_FILE)) == 2
    (tmp_path / META_FILE).write_text("{}")  # metadata that no table names
    with pytest.raises(DataError, match="not from the same run"):
        mentions_meta(tmp_path / MENTIONS_FILE)
