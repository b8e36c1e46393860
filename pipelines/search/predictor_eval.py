"""How well does a predictor rank architectures it has not seen?

NAO's predictor is compared with scikit-learn regressors on one-hot tokens, all trained on the
same sampled architectures and scored on the same held-out ones, by the metrics of
:mod:`nao.metrics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from nao import metrics
from nao.errors import ConfigError
from nao.estimator import NAO
from nao.validation import check_int, check_options
from pipelines.strategies.base import epoch_status
from pipelines.strategies.nao_strategy import MAX_MODELS
from search_spaces import require
from search_spaces.base import Arch, SearchSpace, Tabular

MIN_SET_SIZE = 2  # NAO needs two architectures to fit, a ranking two to compare
NAO_OPTIONS = tuple(p for p in NAO._PARAMS if p != "random_state")  # the seed sets it


def sample_distinct(space: SearchSpace, n: int, rng: np.random.Generator) -> list[Arch]:
    """``n`` architectures with distinct canonical keys."""
    out = space.sample_distinct(n, rng, max_tries=200 * n + 1000)
    if len(out) == n:
        return out
    raise ConfigError(f"{space.name}: could not sample {n} distinct architectures; ask for fewer")


def one_hot(space: SearchSpace, archs: list[Arch]) -> np.ndarray:
    tokens = np.array([space.to_tokens(a) for a in archs])
    out = np.zeros((len(archs), space.length * len(space.vocab)))
    cols = np.arange(space.length) * len(space.vocab) + tokens
    out[np.arange(len(archs))[:, None], cols] = 1.0
    return out


def ranking_scores(y_true, y_pred) -> dict[str, float]:
    return {
        "pairwise_accuracy": metrics.pairwise_accuracy(y_true, y_pred),
        "kendall_tau": metrics.kendall_tau(y_true, y_pred),
        "spearman": metrics.spearman(y_true, y_pred),
    }


def baselines(seed: int) -> dict[str, Callable[[], object]]:
    # scikit-learn is imported here, by --baselines only: it takes a second to import
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.neighbors import KNeighborsRegressor

    # Bounded hyper-parameters: unbounded, the marginal likelihood often explains every score as
    # noise on one-hot tokens and the GP predicts a constant.
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(2.0, (0.5, 50.0))
              + WhiteKernel(0.1, (1e-4, 1.0)))
    return {
        "random_forest": lambda: RandomForestRegressor(n_estimators=200, random_state=seed),
        "gaussian_process": lambda: GaussianProcessRegressor(
            kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed),
        "knn": lambda: KNeighborsRegressor(n_neighbors=5, weights="distance"),
        # leaves of 5: with sklearn's 20, a 100-architecture training set allows few splits
        "gradient_boosting": lambda: HistGradientBoostingRegressor(
            learning_rate=0.05, max_iter=200, min_samples_leaf=5, random_state=seed),
    }


def check_nao_params(nao_params: dict | None) -> dict:
    """``nao_params`` as :class:`NAO` takes them (every parameter but ``random_state``, which
    the seed sets), checked by the estimator's own validation before anything is sampled."""
    check_options("--set", "the NAO estimator", nao_params, NAO_OPTIONS, optional=True)
    NAO(None, **(nao_params or {}))._validate_params("NAO estimator")  # type: ignore[arg-type]
    return dict(nao_params or {})


def check_sizes(space: SearchSpace, train_size: int, test_size: int,
                pretrain_archs: int = 0) -> None:
    """Training and test architectures are distinct table entries: both at least
    :data:`MIN_SET_SIZE` and together no more than the table holds; ``pretrain_archs`` more,
    distinct from both, must fit in what is left."""
    require(space, Tabular, "scoring predictors (nao predictor-eval)")
    for flag, size in (("--train-size", train_size), ("--test-size", test_size)):
        check_int("predictor evaluation", flag, size, MIN_SET_SIZE)
    held = space.size
    if train_size + test_size > held:
        raise ConfigError(f"--train-size {train_size} + --test-size {test_size} = "
                          f"{train_size + test_size} distinct architectures, but {space.name} "
                          f"holds {held:,}; ask for {held:,} or fewer together")
    left = held - train_size - test_size
    if pretrain_archs > left:
        raise ConfigError(f"--pretrain-archs {pretrain_archs} must differ from the "
                          f"{train_size + test_size:,} training and test architectures, but "
                          f"{space.name} holds {held:,}; ask for {left:,} or fewer")


def check_n_models(n_models: int) -> None:
    check_int("predictor evaluation", "--n-models", n_models, 1, MAX_MODELS)


def member_seed(seed: int, member: int) -> int:
    """The ``random_state`` of ensemble member ``member``: the first is ``seed`` itself, so an
    ensemble of one is the single model; the others are drawn from ``(seed, member)``."""
    if member == 0:
        return seed
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0] >> 1)


def evaluate_predictors(space: SearchSpace, train_size: int, test_size: int, seed: int,
                        with_baselines: bool = False, nao_params: dict | None = None,
                        pretrain_archs: int = 0, pretrain_epochs: int = 20,
                        n_models: int = 1, status: Callable[[str], None] | None = None) -> dict:
    """One seed: NAO (and optionally the baselines) trained on ``train_size``, scored on
    ``test_size`` other architectures by validation accuracy. ``pretrain_archs`` > 0 first
    trains NAO's encoder and decoder on that many further architectures, unlabelled and
    distinct from both sets, as the ``nao`` strategy does before its first fit; the training
    and test sets stay the same ones. ``n_models`` > 1 scores the mean prediction of that many
    NAO models of different seeds, as the ``nao`` strategy's ``n_models`` ranks candidates;
    reconstruction is the first model's. ``status(text)``, if given, hears what is being
    trained, epoch by epoch (a progress display)."""
    nao_params = check_nao_params(nao_params)
    check_int("predictor evaluation", "--pretrain-archs", pretrain_archs, 0)
    check_sizes(space, train_size, test_size, pretrain_archs)
    check_n_models(n_models)
    rng = np.random.default_rng(seed)
    train, y_train, test, y_test = labelled_split(space, train_size, test_size, rng)
    unlabelled = []
    if pretrain_archs:
        taken = {space.canonical(a) for a in train + test}
        unlabelled = space.sample_distinct(pretrain_archs, rng, taken,
                                           max_tries=200 * pretrain_archs + 1000)
        if len(unlabelled) < pretrain_archs:
            raise ConfigError(f"{space.name}: could not sample {pretrain_archs} more distinct "
                              "architectures to pre-train on; ask for fewer")
    predictions = []
    for member in range(n_models):
        of = f" (model {member + 1}/{n_models})" if n_models > 1 else ""
        member_model = NAO(space, random_state=member_seed(seed, member), **nao_params)
        if unlabelled:
            member_model.pretrain(unlabelled, pretrain_epochs, on_epoch=epoch_status(
                status, f"NAO pre-training on {len(unlabelled)} archs{of}"))
        member_model.fit(train, y_train, on_epoch=epoch_status(status, f"NAO fitting{of}"))
        predictions.append(member_model.predict(test))
        if member == 0:
            model = member_model  # its reconstruction is reported
    result = {"nao": ranking_scores(y_test, np.mean(predictions, axis=0))}
    tokens = [space.to_tokens(a) for a in test]
    result["nao"]["reconstruction_accuracy"] = metrics.reconstruction_accuracy(
        tokens, [space.to_tokens(a) for a in model.reconstruct(test)])
    result["nao"]["train_reconstruction_accuracy"] = metrics.reconstruction_accuracy(
        [space.to_tokens(a) for a in train], [space.to_tokens(a) for a in model.reconstruct(train)])
    if with_baselines:
        if status is not None:
            status("baselines")
        result["baselines"] = baseline_scores(space, train, y_train, test, y_test, seed)
    return result




def labelled_split(space: SearchSpace, train_size: int, test_size: int,
                   rng: np.random.Generator) -> tuple[list[Arch], np.ndarray, list[Arch],
                                                      np.ndarray]:
    """Distinct training and test architectures with their validation accuracy."""
    archs = sample_distinct(space, train_size + test_size, rng)
    train, test = archs[:train_size], archs[train_size:]
    return (train, np.array([space.lookup(a).valid for a in train]),
            test, np.array([space.lookup(a).valid for a in test]))


def baseline_scores(space: SearchSpace, train: list[Arch], y_train: np.ndarray,
                    test: list[Arch], y_test: np.ndarray, seed: int) -> dict[str, dict]:
    """Each scikit-learn baseline fitted on one-hot tokens of ``train``, scored on ``test``."""
    x_train, x_test = one_hot(space, train), one_hot(space, test)
    scores = {}
    for name, make in baselines(seed).items():
        with warnings.catch_warnings():  # GP hyper-parameter bounds warnings are expected
            warnings.simplefilter("ignore", category=UserWarning)
            reg = make().fit(x_train, y_train)
        scores[name] = ranking_scores(y_test, reg.predict(x_test))
    return scores


def summarize(per_seed: list[dict]) -> dict:
    """Mean over seeds in the fixed keys, with ``*_std`` beside each."""

    def agg(dicts: list[dict]) -> dict:
        out = {}
        for key in dicts[0]:
            values = np.array([d[key] for d in dicts], dtype=float)
            out[key] = float(values.mean())
            out[f"{key}_std"] = float(values.std())
        return out

    summary = {"nao": agg([r["nao"] for r in per_seed])}
    if "baselines" in per_seed[0]:
        summary["baselines"] = {
            name: agg([r["baselines"][name] for r in per_seed]) for name in per_seed[0]["baselines"]
        }
    return summary
