from __future__ import annotations

import math

import numpy as np
import pytest

from nao import metrics


def test_pairwise_accuracy_is_one_for_same_order_and_zero_for_reversed():
    y = [0.1, 0.5, 0.3, 0.9]
    assert metrics.pairwise_accuracy(y, [1, 5, 3, 9]) == 1.0
    assert metrics.pairwise_accuracy(y, [-1, -5, -3, -9]) == 0.0


def test_pairwise_accuracy_counts_one_wrong_pair_and_half_ties():
    # pairs (0,1) (0,2) (1,2): the prediction swaps 1 and 2 -> 2 of 3 right
    assert metrics.pairwise_accuracy([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 3)
    # a predicted tie on one pair counts half
    assert metrics.pairwise_accuracy([1, 2, 3], [1, 2, 2]) == pytest.approx(2.5 / 3)
    # true ties are left out
    assert metrics.pairwise_accuracy([1, 1, 2], [0, 5, 9]) == 1.0


def test_rank_correlations_match_their_definitions():
    y = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert metrics.kendall_tau(y, y * 2) == pytest.approx(1.0)
    assert metrics.spearman(y, -y) == pytest.approx(-1.0)
    # one discordant pair of ten -> tau = (9 - 1) / 10
    assert metrics.kendall_tau([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == pytest.approx(0.8)


def test_spearman_is_the_rank_difference_formula_not_kendall():
    # one swapped neighbour pair: sum d^2 = 2, rho = 1 - 6 * 2 / (5 * (25 - 1)) = 0.9,
    # while Kendall's tau on the same data is 0.8
    assert metrics.spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == pytest.approx(0.9)
    # ranks (1, 2, 3, 4) vs (4, 1, 2, 3): sum d^2 = 9 + 1 + 1 + 1 = 12 -> 1 - 72 / 60 = -0.2
    assert metrics.spearman([10, 20, 30, 40], [0.9, 0.1, 0.2, 0.3]) == pytest.approx(-0.2)
    # monotone transforms leave it unchanged (ranks, not values)
    assert metrics.spearman([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)


def test_reconstruction_accuracy_is_the_exact_match_rate():
    assert metrics.reconstruction_accuracy([(1, 2), (3, 4)], [(1, 2), (3, 5)]) == 0.5
    assert math.isnan(metrics.reconstruction_accuracy([], []))


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        metrics.pairwise_accuracy([1, 2], [1])


def test_best_first_orders_high_to_low_keeping_ties_in_place_and_nan_last():
    scores = [0.2, 0.9, float("nan"), 0.5, 0.9, 0.2, 0.5]
    assert metrics.best_first(scores).tolist() == [1, 4, 3, 6, 0, 5, 2]
    assert metrics.best_first(np.array([3, 1, 2])).tolist() == [0, 2, 1]  # integers too
    assert metrics.best_first([]).tolist() == []
    many = np.random.default_rng(0).integers(0, 5, 200).astype(float)  # long: not insertion sort
    assert metrics.best_first(many).tolist() == sorted(range(200), key=lambda i: (-many[i], i))


def test_pairwise_accuracy_reads_unsigned_integer_scores_as_numbers():
    # uint8 differences would wrap around (1 - 2 == 255) if the values were not made floats
    ranks = np.array([1, 2, 3, 4], dtype=np.uint8)
    assert metrics.pairwise_accuracy(ranks, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.pairwise_accuracy([0.1, 0.2, 0.3, 0.4], ranks) == 1.0


def test_pairwise_accuracy_is_nan_when_every_true_value_ties():
    assert math.isnan(metrics.pairwise_accuracy([0.5, 0.5, 0.5], [1, 2, 3]))


def test_reconstruction_accuracy_counts_matches_not_misses():
    assert metrics.reconstruction_accuracy([(1,), (2,), (3,)], [(1,), (2,), (4,)]) == pytest.approx(2 / 3)


def test_length_errors_say_what_differs():
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 1"):
        metrics.kendall_tau([1, 2], [1])
    with pytest.raises(ValueError, match="differ in length"):
        metrics.reconstruction_accuracy([(1,)], [])
