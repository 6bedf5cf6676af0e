"""realm.llm.cache: one file per text in a folder per setting; misses for a new setting or a corrupt file."""

from __future__ import annotations

from pathlib import Path

from realm.llm.cache import ResponseCache, text_digest

SETTINGS = {"model": "m", "prompt": "1"}


def test_put_then_get_hits_and_other_texts_miss(tmp_path: Path) -> None:
    cache = ResponseCache("answers", SETTINGS, tmp_path)
    assert cache.get("note one") is None and len(cache) == 0
    cache.put("note one", {"answers": ["a"]})
    assert cache.get("note one") == {"answers": ["a"]}
    assert cache.get("note two") is None and len(cache) == 1
    digest = text_digest("note one")
    assert (tmp_path / "answers" / cache.key / digest[:2] / f"{digest}.json").is_file()


def test_the_same_setting_shares_the_folder_another_misses(tmp_path: Path) -> None:
    ResponseCache("answers", SETTINGS, tmp_path).put("note", {"x": 1})
    assert ResponseCache("answers", dict(reversed(list(SETTINGS.items()))), tmp_path).get("note") == {"x": 1}
    assert ResponseCache("answers", {**SETTINGS, "prompt": "2"}, tmp_path).get("note") is None
    assert ResponseCache("replies", SETTINGS, tmp_path).get("note") is None


def test_a_corrupt_entry_is_a_miss_and_is_overwritten(tmp_path: Path) -> None:
    cache = ResponseCache("answers", SETTINGS, tmp_path)
    cache.put("note", {"x": 1})
    path = next(cache.directory.glob("*/*.json"))
    path.write_text("{not json")
    assert cache.get("note") is None
    path.write_text("[1, 2]")
    assert cache.get("note") is None
    cache.put("note", {"x": 2})
    assert cache.get("note") == {"x": 2} and list(path.parent.iterdir()) == [path]  # no temporary left
