"""Scores against hand computations and scipy/numpy definitions."""

import numpy as np
import pytest

from serbench.metrics import confusion_matrix, near_collapsed, scores


def test_hand_example():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 0])
    result = scores(y_true, y_pred, 2)
    assert result["confusion"] == [[3, 1], [1, 1]]
    assert result["ua"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert result["wa"] == pytest.approx(4 / 6)
    # F1 class 0: 2*3/(4+4) = 0.75; class 1: 2*1/(2+2) = 0.5
    assert result["macro_f1"] == pytest.approx(0.625)
    assert result["n"] == 6


def test_ua_is_chance_for_a_constant_predictor_on_imbalanced_data():
    y_true = np.array([0] * 90 + [1] * 10)
    result = scores(y_true, np.zeros(100, dtype=int), 2)
    assert result["wa"] == pytest.approx(0.9) and result["ua"] == pytest.approx(0.5)


def test_absent_class_does_not_count_in_ua():
    assert scores(np.array([0, 0, 1]), np.array([0, 2, 1]), 3)["ua"] == pytest.approx((0.5 + 1) / 2)


def test_confusion_matches_numpy_histogram():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    expected, _, _ = np.histogram2d(y_true, y_pred, bins=[np.arange(5)] * 2)
    assert (confusion_matrix(y_true, y_pred, 4) == expected).all()


def test_near_collapse_is_nearly_one_predicted_class_where_several_are_true() -> None:
    assert near_collapsed(np.array([[178, 0], [176, 2]]))  # 2 of 356 the other class (the run)
    assert not near_collapsed(np.array([[178, 0], [178, 0]]))  # collapsed: flagged as such, not as near
    assert not near_collapsed(np.array([[170, 8], [170, 8]]))  # 4.5% the other class
    assert not near_collapsed(np.array([[355, 1], [0, 0]]))  # one true class: UA has nothing to rank
