"""Scores against hand computations and scipy/numpy definitions."""

import numpy as np
import pytest

from serbench.metrics import confusion_matrix, degenerate, near_collapsed, scores


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


def test_degenerate_is_collapsed_or_near_collapsed_over_stacked_matrices() -> None:
    rng = np.random.default_rng(3)
    matrices = rng.integers(0, 40, size=(400, 3, 3)) * (rng.random((400, 3, 1)) < 0.7)
    matrices[::4, :, 1:] = 0  # collapsed: every utterance predicted as class 0
    matrices[1::4, :, 0] = 0
    matrices[1::4, :, 1] *= 300  # most go to class 1, a few to 2: some of these near-collapse
    flags = degenerate(matrices)
    assert flags.shape == (400,)
    for matrix, flag in zip(matrices, flags, strict=True):
        several = (matrix.sum(axis=1) > 0).sum() > 1
        collapsed = several and (matrix.sum(axis=0) > 0).sum() == 1
        assert flag == (collapsed or near_collapsed(matrix)), matrix
    assert any(near_collapsed(m) for m in matrices) and not flags.all()
    assert not degenerate(np.zeros((2, 2), dtype=int))  # nothing tested: nothing collapsed
