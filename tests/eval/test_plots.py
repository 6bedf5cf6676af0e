"""The PR curve drawn is the one average precision integrates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_curve

from realm.eval.plots import pr_steps

scores = st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=40).filter(
    lambda rows: any(y for y, _ in rows))


@settings(max_examples=200, deadline=None)
@given(scores)
def test_area_under_the_drawn_steps_is_average_precision(rows: list[tuple[bool, int]]) -> None:
    y = np.array([r[0] for r in rows], dtype=int)
    p = np.array([r[1] for r in rows], dtype=float)  # few distinct scores: many ties
    rec, prec = pr_steps(y, p)
    assert (np.diff(rec) < 0).all()  # one point per recall, recall decreasing
    # drawn with where="post": the segment from rec[i] down to rec[i + 1] has height prec[i]
    assert np.sum(-np.diff(rec) * prec[:-1]) == pytest.approx(average_precision_score(y, p))


def test_dips_where_only_negatives_pass_are_not_drawn() -> None:
    y = np.array([1, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    _, raw_rec = precision_recall_curve(y, p)[:2]
    rec, prec = pr_steps(y, p)
    assert len(rec) < len(raw_rec)  # sklearn lists 1/2 recall at 1, 1/2 and 1/3 precision
    np.testing.assert_allclose(rec, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(prec, [0.5, 1.0, 1.0])
