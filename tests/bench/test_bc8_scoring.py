"""BC8 scoring against hand-computed numbers on a 5-row fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.bench.bc8.data import Finding, Observation, read_bc8
from realm.bench.bc8.scoring import prf, score_bc8

GOLD = (
    "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"
    "a\t1\tEARS: low set, no pits\tHP:0000369\tNA\t0-4,6-13\n"
    "a\t1\tEARS: low set, no pits\tHP:9999999\tX\t15-22\n"
    "b\t1\tMOUTH: high palate\tHP:0000218\tNA\t7-18\n"
    "c\t1\tNOSE: normal\tNA\tNA\tNA\n"
    "d\t1\tHEAD: big head, flat face\tHP:0000256\tNA\t6-14\n"
)


def test_hand_computed_scores(tmp_path: Path) -> None:
    path = tmp_path / "gold.tsv"
    path.write_text(GOLD)
    gold = read_bc8(path)
    predicted = [
        Observation("a", "", (Finding("HP:0000369", ((6, 13),)), Finding("HP:0030025", ((15, 22),), False))),
        Observation("b", "", (Finding("HP:0000218", ((7, 18),)),)),
        Observation("c", "", (Finding("HP:0000001", ((6, 12),)),)),
        Observation("zzz", "", (Finding("HP:0000002", ((0, 1),)),)),  # not in gold: ignored
    ]
    aliases = {"HP:9999999": "HP:0030025"}  # an alt id in the gold file
    s = score_bc8(gold, predicted, resolve=lambda t: aliases.get(t, t))
    # strict: gold 4, predicted 4; right: a/HP:0030025 (15-22), b/HP:0000218 -> 2
    assert (s["strict"]["tp"], s["strict"]["n_pred"], s["strict"]["n_gold"]) == (2, 4, 4)
    assert s["strict"]["f1"] == pytest.approx(0.5)
    # norm: gold {a:369,30025; b:218; d:256}=4, predicted {a:2; b:1; c:1}=4, right 3
    assert s["norm"]["p"] == pytest.approx(0.75) and s["norm"]["r"] == pytest.approx(0.75)
    # negation over the 3 normalization matches: a/30025 is gold-negated, predicted not
    assert s["negation_acc"] == pytest.approx(2 / 3) and s["negation_n"] == 3
    # without alias resolution the alt id is a miss
    assert score_bc8(gold, predicted)["norm"]["tp"] == 2


def test_prf_edges() -> None:
    assert prf(0, 0, 0)["f1"] == 0.0
    assert prf(1, 2, 4) == {"p": 0.5, "r": 0.25, "f1": pytest.approx(1 / 3), "tp": 1, "n_pred": 2, "n_gold": 4}
