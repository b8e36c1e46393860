"""How well can any predictor rank a ``synthetic:`` space from 100 architectures?

    python benchmarks/predictor_ceiling.py                        # two spaces, seeds 0-4
    python benchmarks/predictor_ceiling.py --space synthetic:positions=6,choices=5,seed=0 --seeds 2

A ``synthetic:`` space draws its score from a known distribution: a standard normal weight per
(position, choice) plus ``interactions`` times a standard normal weight per (pair of positions,
pair of choices), squashed by a sigmoid. So the best any predictor can do is known too: the
posterior mean of the raw score under that very prior (a Gaussian process whose kernel counts
the positions, and the pairs of positions, where two architectures agree). For a pair of
architectures the posterior of their difference is Gaussian, so ordering them by posterior
mean is the Bayes decision for each pair: no predictor trained on the same architectures has a
higher expected pairwise accuracy over the spaces a seed can draw.

On the same split as ``nao predictor-eval`` (``labelled_split`` with the same seed), it prints
that ceiling beside the Gaussian-process baseline of ``nao predictor-eval --baselines``: the
room any predictor has above that baseline.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from nao import metrics
from pipelines.search.predictor_eval import baseline_scores, labelled_split
from search_spaces import get_space
from search_spaces.synthetic import SyntheticSpace

SPACES = ("synthetic:positions=6,choices=5,seed=0", "synthetic:positions=8,choices=4,seed=1")
JITTER = 1e-9  # the scores are exact up to the table's rounding to 6 decimals


def prior_covariance(space: SyntheticSpace, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Covariance of the raw scores of token rows ``a`` and ``b`` under the space's prior:
    one per position where they agree, plus ``interactions**2`` per agreeing pair."""
    agree = (a[:, None, :] == b[None, :, :]).sum(axis=-1).astype(float)
    return agree + space.interactions ** 2 * agree * (agree - 1) / 2


def raw_scores(space: SyntheticSpace, accuracy: np.ndarray) -> np.ndarray:
    """The raw score behind a validation accuracy (the inverse of the space's sigmoid)."""
    scale = math.sqrt(space.positions + space.interactions ** 2
                      * space.positions * (space.positions - 1) / 2)
    return np.log(accuracy / (1.0 - accuracy)) * scale / 1.5


def ceiling(space: SyntheticSpace, train_size: int, test_size: int, seed: int) -> dict:
    """Pairwise accuracy of the Bayes posterior mean and of the GP baseline on one split."""
    rng = np.random.default_rng(seed)  # the split nao predictor-eval draws with this seed
    train, y_train, test, y_test = labelled_split(space, train_size, test_size, rng)
    tr = np.array([space.to_tokens(a) for a in train])
    te = np.array([space.to_tokens(a) for a in test])
    k_train = prior_covariance(space, tr, tr) + JITTER * np.eye(len(tr))
    mean = prior_covariance(space, te, tr) @ np.linalg.solve(k_train, raw_scores(space, y_train))
    gp = baseline_scores(space, train, y_train, test, y_test, seed)["gaussian_process"]
    return {"bayes": metrics.pairwise_accuracy(y_test, mean),
            "gaussian_process": gp["pairwise_accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", action="append", dest="spaces",
                    help="a synthetic: space; repeat for more (default: the two above)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (5)")
    ap.add_argument("--train-size", type=int, default=100)
    ap.add_argument("--test-size", type=int, default=2000)
    args = ap.parse_args()
    print(f"train {args.train_size}, test {args.test_size}, seeds 0-{args.seeds - 1}; "
          "pairwise accuracy, mean ± std over seeds\n")
    print("| space | Gaussian process (baseline) | Bayes ceiling | ceiling minus GP |")
    print("| --- | ---: | ---: | ---: |")
    for name in args.spaces or SPACES:
        space = get_space(name)
        if not isinstance(space, SyntheticSpace):
            raise SystemExit(f"{name}: the ceiling is known for synthetic: spaces only")
        rows = [ceiling(space, args.train_size, args.test_size, s) for s in range(args.seeds)]
        gp = np.array([r["gaussian_process"] for r in rows])
        bayes = np.array([r["bayes"] for r in rows])
        print(f"| {name} | {gp.mean():.3f} ± {gp.std():.3f} | {bayes.mean():.3f} ± "
              f"{bayes.std():.3f} | {(bayes - gp).mean():+.3f} ± {(bayes - gp).std():.3f} |")


if __name__ == "__main__":
    main()
