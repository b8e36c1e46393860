"""Ranking metrics for predictors: what matters for search is the order, not the error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64).ravel()
    b = np.asarray(y_pred, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_true has {a.size} values but y_pred has {b.size}")
    return a, b


def pairwise_accuracy(y_true, y_pred) -> float:
    """Fraction of pairs with different true values that the prediction orders the same way
    (NAO's measure; predicted ties count half)."""
    a, b = _pair(y_true, y_pred)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), k=1)
    da, db = da[iu], db[iu]
    keep = da != 0
    if not keep.any():
        return float("nan")
    agree = (da[keep] == db[keep]).sum() + 0.5 * (db[keep] == 0).sum()
    return float(agree / keep.sum())


def kendall_tau(y_true, y_pred) -> float:
    from scipy import stats  # here: scipy.stats takes most of a second to import

    a, b = _pair(y_true, y_pred)
    return float(stats.kendalltau(a, b).statistic)


def spearman(y_true, y_pred) -> float:
    from scipy import stats

    a, b = _pair(y_true, y_pred)
    return float(stats.spearmanr(a, b).statistic)


def reconstruction_accuracy(true_tokens: Sequence[Sequence[int]],
                            decoded_tokens: Sequence[Sequence[int]]) -> float:
    """Fraction of architectures decoded back to exactly their own token sequence."""
    if len(true_tokens) != len(decoded_tokens):
        raise ValueError("true_tokens and decoded_tokens differ in length")
    if not len(true_tokens):
        return float("nan")
    hits = sum(tuple(t) == tuple(d) for t, d in zip(true_tokens, decoded_tokens, strict=True))
    return hits / len(true_tokens)


def best_first(scores) -> np.ndarray:
    """Indices of ``scores`` from the highest down; equal scores keep their order (a stable
    sort of the negated scores, so a search picks the same architecture on every run). NaN
    comes last."""
    return np.argsort(-np.asarray(scores), kind="stable")
