"""The drug dictionary's mis-decoded strings (UTF-8 read as Latin-1) are repaired."""

from __future__ import annotations

import pytest

from realm.kg.sources.mesh_dicts import repair_mojibake


@pytest.mark.parametrize(("broken", "fixed"), [
    ("oxford\u00e2\x80\x93astrazeneca covid-19 vaccine", "oxford\u2013astrazeneca covid-19 vaccine"),
    ("\u00e3\x82\u00a2\u00e3\x83\x93\u00e3\x82\u00ac\u00e3\x83\u00b3", "\u30a2\u30d3\u30ac\u30f3"),
    # the variant was lower-cased after the wrong decoding: its lead byte is re-upper-cased
    ("\u00ee\x91-pyrrolidinoheptaphenone", "\u0391-pyrrolidinoheptaphenone"),
])
def test_mis_decoded_text_is_repaired(broken: str, fixed: str) -> None:
    assert repair_mojibake(broken) == fixed


@pytest.mark.parametrize("text", ["hustengetr\u00e4nk", "d\u00e9filtran", "scemblix\u00ae", "plain", "\u00e2\x80"])
def test_real_text_is_left_alone(text: str) -> None:
    assert repair_mojibake(text) == text
