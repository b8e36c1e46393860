"""``nao predictor-eval``'s options (the evaluation: :mod:`pipelines.commands.predictor_eval`)."""

from __future__ import annotations

from search_spaces import DEFAULT_SPACE

from ..common import add_common, deferred, non_negative_int, positive_int

DEFAULT_TRAIN_SIZE = 100
DEFAULT_TEST_SIZE = 2000


def register(sub) -> None:
    p = sub.add_parser("predictor-eval", help="score NAO's predictor on held-out architectures",
                       description="Train the NAO predictor on N sampled architectures and "
                                   "score how it ranks M others (validation accuracy).")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help=f"a search space with a table of accuracies (default {DEFAULT_SPACE})")
    p.add_argument("--train-size", type=positive_int, default=DEFAULT_TRAIN_SIZE, metavar="N",
                   help="architectures the predictor is trained on, at least 2 "
                        f"(default {DEFAULT_TRAIN_SIZE})")
    p.add_argument("--test-size", type=positive_int, default=DEFAULT_TEST_SIZE, metavar="M",
                   help="other architectures it ranks, at least 2; train and test together "
                        f"at most the table's size (default {DEFAULT_TEST_SIZE})")
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="repeat over seeds seed, seed+1, ...; report mean and std (default 1)")
    p.add_argument("--baselines", action="store_true",
                   help="also fit random forest, Gaussian process, k-NN and gradient boosting "
                        "on one-hot tokens")
    p.add_argument("--pretrain-archs", type=non_negative_int, default=0, metavar="K",
                   help="first train NAO's encoder and decoder on K further unlabelled "
                        "architectures (the nao strategy uses 1000; default 0)")
    p.add_argument("--pretrain-epochs", type=positive_int, default=20, metavar="E",
                   help="epochs of that pre-training (default 20)")
    p.add_argument("--n-models", type=positive_int, default=1, metavar="K",
                   help="score the mean prediction of K NAO models of different seeds (the "
                        "nao strategy's n_models; default 1)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="NAO estimator option, e.g. --set epochs=500")
    add_common(p)
    p.set_defaults(run=deferred("predictor_eval"))
