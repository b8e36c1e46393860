"""The NAO estimator: scikit-learn style ``fit``/``predict`` plus ``encode``/``decode``/``propose``.

Defaults follow the paper and the authors' code (unit-normalized encoder outputs, targets under a
sigmoid, loss ``trade_off * MSE + (1 - trade_off) * NLL``, Adam at 1e-3 with
L2 1e-4, gradient-norm clipping at 5, up to 1000 epochs, symmetric copies of every training
architecture, and ``propose`` raising the step size by ``step_size`` until enough new
architectures decode), except that targets are scaled by rank rather than min-max by default
(``target_transform``), the layers are smaller (embedding 32, LSTM 64, predictor MLP 100
units: the paper's 48/96/200 rank worse when fitted on 100-200 architectures) and a prediction
is the mean over equivalent token sequences (``predict_symmetries``); each measured in
docs/results.md.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import os
import pickle
import re
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, DataError, NaoError
from .space import Arch, TokenSpace, prefix_masks
from .validation import check_bool, check_choice, check_float, check_int

if TYPE_CHECKING:
    import torch

    from .model import NAOModel

# torch (and the networks built on it) is imported by the methods that train or run the
# networks: building an estimator and checking its parameters (what a command line does
# before any work) needs neither.

# Upper bounds of the network options: far above any useful value, low enough that a typo is a
# clear error instead of torch failing to allocate (or crashing on a million threads).
# Widths: the paper's are 48-200. Measured on a 2-core CPU (100 architectures, CPU time per
# epoch): 0.06 s at the defaults (32/64), 0.23 s at 256, 3.2 s at 1024 and over a minute at 4096.
MAX_WIDTH = 1024
WIDTH_WHY = ("the paper's layers are 48 to 200 units wide, and at 1024 a training epoch "
             "already takes about 60 times as long as at the defaults")
SLOW_WIDTH = 256  # wider than this is allowed, with a warning of what it costs
MAX_LAYERS = 16
MAX_THREADS = 256  # a hard bound; above the CPUs there are, training uses as many as there are
MAX_REPLAY = 10_000  # pre-training architectures replayed per minibatch of a fit
MAX_PROPOSE_STEPS = 10_000  # propose tries step_size, 2 * step_size, ... up to max_step_size
PROPOSE_BATCH_STEPS = 16  # most step sizes propose decodes in one batch
TARGET_TRANSFORMS = ("minmax", "rank")
RANK_LOSSES = ("hinge", "logistic")
RANK_MARGIN = 0.05  # hinge: the better of a pair should be predicted this much higher (of 0..1)
RANK_SCALE = 10.0  # logistic: prediction gaps (0..1) are multiplied by this inside the sigmoid
DEVICES = ("auto", "cpu", "cuda")
# ``on_epoch(done, epochs)`` of fit and pretrain: a progress display's hook
EpochCallback = Callable[[int, int], None]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this system
        return os.cpu_count() or 1


def usable_threads(n: int | None) -> int | None:
    """``num_threads`` as training uses it: at most :func:`available_cpus` (more threads than
    CPUs only make them fight each other), ``None`` left as it is."""
    return None if n is None else min(n, available_cpus())


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is visible; use auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def keyword_parameters(init: Callable) -> tuple[str, ...]:
    """The keyword-only parameters of ``init``, in signature order: an estimator's
    hyperparameters, read from the one place they are declared."""
    return tuple(p.name for p in inspect.signature(init).parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _no_grad(method: Callable) -> Callable:
    """``@torch.no_grad()``, with torch imported when the method runs rather than when the
    class is defined."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        import torch

        with torch.no_grad():
            return method(*args, **kwargs)

    return run


class NAO:
    """Encoder-predictor-decoder over a search space (any :class:`~nao.space.TokenSpace`).

    Parameters are stored as given (scikit-learn convention); learned state ends in ``_``.
    ``max_symmetries`` caps how many equivalent token sequences of each training architecture
    are added (1 = no augmentation). ``predict_symmetries`` averages the predictor over up to
    that many equivalent sequences of each architecture it scores (its own first; 1 = its own
    only): they name one network, so the mean does not depend on which sequence was written,
    and it ranks unseen architectures better (docs/results.md, "Predictor quality").
    ``patience`` stops training early once the training loss has not improved by ``tol`` for
    that many epochs (``None`` trains all ``epochs``).
    ``warm_start`` (scikit-learn's meaning) continues training the fitted networks on the new
    data instead of starting afresh, as the authors' code does between search rounds;
    ``warm_patience`` is the patience of such a continued fit (``None``: ``patience``): networks
    already fitted to most of the data need far fewer epochs than a fresh start.
    ``target_transform`` maps scores into [0, 1] for the sigmoid: ``minmax`` (the paper) or
    ``rank`` (quantiles among the training scores), which keeps a few failed architectures from
    squeezing every good one into the top few percent of the range.
    ``num_threads`` caps torch's CPU threads while training (``None`` leaves torch's setting),
    and training never uses more threads than there are CPUs (:func:`usable_threads`): these
    networks are tiny, gain nothing from more threads, and stall badly when the cores are
    shared with other work.
    ``rank_loss_weight`` > 0 adds a pairwise ranking loss on the predictions within each
    minibatch to the joint loss (``rank_loss``: ``hinge`` with margin ``RANK_MARGIN`` or
    ``logistic``, RankNet's): a search only uses the predictor's order. 0 is the plain loss.
    ``replay`` > 0 goes with :meth:`pretrain`: each minibatch of a fit also reconstructs that
    many of the pre-training architectures (its reconstruction loss averaged with the
    labelled one's). Fitted on a hundred labelled architectures alone, the decoder forgets how
    to write the architectures it has not seen; the replay keeps it writing them
    (docs/results.md, "Reconstruction of unseen architectures"). Without pre-training it does
    nothing.
    """

    def __init__(self, space: TokenSpace, *, embedding_size: int = 32, hidden_size: int = 64,
                 encoder_layers: int = 1, decoder_layers: int = 1, mlp_layers: int = 3,
                 mlp_hidden_size: int = 100, dropout: float = 0.1, trade_off: float = 0.8,
                 epochs: int = 1000, batch_size: int = 100, lr: float = 1e-3,
                 weight_decay: float = 1e-4, grad_clip: float = 5.0, max_symmetries: int = 4,
                 predict_symmetries: int = 4,
                 patience: int | None = 100, tol: float = 1e-4, step_size: float = 1.0,
                 max_step_size: float = 100.0, warm_start: bool = False,
                 warm_patience: int | None = None,
                 target_transform: str = "rank", rank_loss_weight: float = 0.0,
                 rank_loss: str = "hinge", replay: int = 0, num_threads: int | None = 1,
                 device: str = "cpu",
                 random_state: int | None = None):
        self.space = space
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.mlp_layers = mlp_layers
        self.mlp_hidden_size = mlp_hidden_size
        self.dropout = dropout
        self.trade_off = trade_off
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.max_symmetries = max_symmetries
        self.predict_symmetries = predict_symmetries
        self.patience = patience
        self.tol = tol
        self.step_size = step_size
        self.max_step_size = max_step_size
        self.warm_start = warm_start
        self.warm_patience = warm_patience
        self.target_transform = target_transform
        self.rank_loss_weight = rank_loss_weight
        self.rank_loss = rank_loss
        self.replay = replay
        self.num_threads = num_threads
        self.device = device
        self.random_state = random_state

    # the hyperparameters (every parameter but the space): what state_dict saves
    _PARAMS = keyword_parameters(__init__)

    def get_params(self, deep: bool = True) -> dict:
        """Every ``__init__`` parameter by name, the space included (scikit-learn's
        ``get_params``; ``deep`` is accepted for its signature: NAO holds no estimators)."""
        return {"space": self.space, **{name: getattr(self, name) for name in self._PARAMS}}

    def set_params(self, **params) -> NAO:
        """Change parameters by name (scikit-learn's ``set_params``); ``fit`` checks values."""
        known = self.get_params()
        if unknown := [name for name in params if name not in known]:
            raise ConfigError(f"NAO has no parameter {unknown[0]!r}; use one of "
                              f"{', '.join(known)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _validate_params(self, owner: str = "NAO", prefix: str = "") -> None:
        """Every parameter's type and range (scikit-learn's ``_validate_params``): ``fit`` and
        the strategies that build estimators call it, so a bad value is a :class:`ConfigError`
        before any training. ``prefix`` is how the caller names the parameters
        (``nao_params.``)."""

        def name(param: str) -> str:
            return prefix + param

        for param in ("embedding_size", "hidden_size", "mlp_hidden_size"):
            check_int(owner, name(param), getattr(self, param), 1, MAX_WIDTH, why=WIDTH_WHY)
        for param in ("encoder_layers", "decoder_layers"):
            check_int(owner, name(param), getattr(self, param), 1, MAX_LAYERS)
        check_int(owner, name("mlp_layers"), self.mlp_layers, 0, MAX_LAYERS)
        check_float(owner, name("dropout"), self.dropout, 0, 1, high_open=True)
        check_float(owner, name("trade_off"), self.trade_off, 0, 1)
        for param in ("epochs", "batch_size", "max_symmetries", "predict_symmetries"):
            check_int(owner, name(param), getattr(self, param), 1)
        for param in ("patience", "warm_patience"):
            check_int(owner, name(param), getattr(self, param), 1, optional=True)
        check_float(owner, name("lr"), self.lr, 0, 1, low_open=True)
        check_float(owner, name("weight_decay"), self.weight_decay, 0, 1)
        check_float(owner, name("grad_clip"), self.grad_clip, 0, low_open=True)
        check_float(owner, name("tol"), self.tol, 0)
        step = check_float(owner, name("step_size"), self.step_size, 0, low_open=True)
        check_float(owner, name("max_step_size"), self.max_step_size, step,
                    step * MAX_PROPOSE_STEPS)
        check_bool(owner, name("warm_start"), self.warm_start)
        check_choice(owner, name("target_transform"), self.target_transform, TARGET_TRANSFORMS)
        check_float(owner, name("rank_loss_weight"), self.rank_loss_weight, 0)
        check_int(owner, name("replay"), self.replay, 0, MAX_REPLAY)
        check_choice(owner, name("rank_loss"), self.rank_loss, RANK_LOSSES)
        check_int(owner, name("num_threads"), self.num_threads, 1, MAX_THREADS, optional=True)
        check_choice(owner, name("device"), self.device, DEVICES)
        check_int(owner, name("random_state"), self.random_state, 0, optional=True)

    def slow_settings(self, prefix: str = "") -> list[str]:
        """Valid parameters that make training much slower than the defaults, each as a
        sentence saying what they cost (a command prints them as warnings); call after
        :meth:`_validate_params`. ``prefix`` is how the caller names the parameters."""
        out = []
        cpus = available_cpus()
        if self.num_threads is not None and self.num_threads > cpus:
            out.append(f"{prefix}num_threads={self.num_threads} is more than the {cpus} CPU(s) "
                       f"this process may use, so NAO trains with {cpus} (more threads than "
                       "CPUs fight each other; 1, the default, is fastest for these small "
                       "networks)")
        wide = [f"{prefix}{param}={getattr(self, param)}"
                for param in ("embedding_size", "hidden_size", "mlp_hidden_size")
                if getattr(self, param) > SLOW_WIDTH]
        if wide and self.device != "cuda":
            out.append(f"{' and '.join(wide)}: layers wider than {SLOW_WIDTH} make NAO's "
                       "training slow on a CPU (an epoch at 1024 takes about 60 times as long "
                       "as at the defaults 32/64/100; the paper's are 48 to 200)")
        return out

    # ----- helpers -------------------------------------------------------------------------
    def _tokens(self, archs: Sequence[Arch]) -> torch.Tensor:
        import torch

        return torch.tensor([self.space.to_tokens(a) for a in archs], dtype=torch.long)

    def _masks(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-position validity masks of the space along each (teacher-forced) sequence."""
        import torch

        return torch.from_numpy(prefix_masks(self.space, tokens.tolist()))

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ConfigError("this NAO estimator is not fitted yet; call fit(archs, scores)")

    def _augment(self, archs: Sequence[Arch], y: np.ndarray, rng: np.random.Generator):
        out_archs: list[Arch] = []
        out_y: list[float] = []
        for arch, target in zip(archs, y, strict=True):
            variants = self.space.symmetries(arch)
            extra = variants[1:]
            if len(extra) > self.max_symmetries - 1:
                pick = rng.choice(len(extra), size=self.max_symmetries - 1, replace=False)
                extra = [extra[i] for i in sorted(pick)]
            for variant in [arch, *extra]:
                out_archs.append(variant)
                out_y.append(float(target))
        return out_archs, np.asarray(out_y)

    def _scale(self, y: np.ndarray) -> np.ndarray:
        lo, hi = self.y_sorted_[0], self.y_sorted_[-1]
        if self.target_transform == "minmax":
            return (y - lo) / ((hi - lo) or 1.0)
        # mid-rank quantile of each score among the training scores
        below = np.searchsorted(self.y_sorted_, y, side="left")
        upto = np.searchsorted(self.y_sorted_, y, side="right")
        return (below + upto - 1) / 2 / max(len(self.y_sorted_) - 1, 1)

    def _unscale(self, q: np.ndarray) -> np.ndarray:
        lo, hi = self.y_sorted_[0], self.y_sorted_[-1]
        if self.target_transform == "minmax":
            return lo + q * ((hi - lo) or 1.0)
        grid = np.linspace(0.0, 1.0, len(self.y_sorted_))
        return np.interp(q, grid, self.y_sorted_)

    # ----- scikit-learn API ----------------------------------------------------------------
    def fit(self, archs: Sequence[Arch], scores: Iterable[float],
            on_epoch: EpochCallback | None = None) -> NAO:
        """Train encoder, predictor and decoder jointly on evaluated architectures.
        ``on_epoch(done, epochs)`` is called after each epoch (a progress display; training
        may stop early, before ``done`` reaches ``epochs``)."""
        self._validate_params()
        archs = list(archs)
        y = np.asarray(list(scores), dtype=np.float64)
        if len(archs) != len(y):
            raise ConfigError(f"fit got {len(archs)} architectures but {len(y)} scores")
        if len(archs) < 2:
            raise ConfigError("fit needs at least 2 evaluated architectures")
        if not np.all(np.isfinite(y)):
            raise ConfigError("fit got a score that is NaN or infinite; drop failed evaluations")
        rng, seed = self._start(archs)
        self.y_sorted_ = np.sort(y)
        self.train_keys_ = {self.space.canonical(a) for a in archs}
        train_archs, train_y = self._augment(archs, self._scale(y), rng)

        from .seeding import seeded_torch
        from .threads import torch_threads

        with seeded_torch(seed, self.device_), torch_threads(usable_threads(self.num_threads)):
            continued = self.warm_start and hasattr(self, "model_")
            if not continued:
                pretrained = getattr(self, "pretrained_", None)
                self.model_ = copy.deepcopy(pretrained) if pretrained is not None \
                    else self._new_model()
            patience = self.patience
            if continued and self.warm_patience is not None:
                patience = self.warm_patience
            self.loss_curve_ = self._train(train_archs, train_y, rng, patience, on_epoch)
        return self

    def _start(self, archs: Sequence[Arch]) -> tuple[np.random.Generator, int]:
        """What every training run begins with: foreign architectures rejected with the space's
        own error, the generator and torch seed of ``random_state``, the device resolved."""
        for arch in archs:
            self.space.from_tokens(self.space.to_tokens(arch))
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        self.device_ = resolve_device(self.device)
        return rng, seed

    def _new_model(self) -> NAOModel:
        from .model import NAOModel

        return NAOModel(
            len(self.space.vocab), self.embedding_size, self.hidden_size,
            self.encoder_layers, self.decoder_layers, self.mlp_layers,
            self.mlp_hidden_size, self.dropout,
        ).to(self.device_)

    def pretrain(self, archs: Sequence[Arch], epochs: int = 20,
                 on_epoch: EpochCallback | None = None) -> NAO:
        """Train encoder and decoder on unevaluated architectures, reconstruction only
        (arch2vec, SemiNAS): the autoencoder half needs no labels, and the space gives
        architectures for free. The next fresh :meth:`fit` starts from these networks instead
        of random ones (kept in ``pretrained_``; not saved by :meth:`state_dict`).
        ``on_epoch(done, epochs)`` is called after each epoch."""
        self._validate_params()
        check_int("NAO", "pretrain epochs", epochs, 1)
        archs = list(archs)
        if not archs:
            raise ConfigError("pretrain needs at least 1 architecture")
        rng, seed = self._start(archs)
        train_archs, _ = self._augment(archs, np.zeros(len(archs)), rng)
        import torch
        import torch.nn.functional as F

        from .seeding import seeded_torch
        from .threads import torch_threads

        with seeded_torch(seed, self.device_), torch_threads(usable_threads(self.num_threads)):
            model = self._new_model()
            tokens = self._tokens(train_archs).to(self.device_)
            masks = self._masks(tokens.cpu()).to(self.device_)
            opt = torch.optim.Adam(model.parameters(), lr=self.lr,
                                   weight_decay=self.weight_decay)
            model.train()
            curve: list[float] = []
            for epoch in range(epochs):
                order = torch.from_numpy(rng.permutation(len(train_archs))).to(self.device_)
                total = 0.0
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    outputs, embedding = model.encoder(tokens[idx])
                    log_probs = model.decoder(tokens[idx], outputs, embedding, masks[idx])
                    loss = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                      tokens[idx].reshape(-1))
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    opt.step()
                    total += loss.item() * len(idx)
                curve.append(total / len(order))
                if on_epoch is not None:
                    on_epoch(epoch + 1, epochs)
        self.pretrained_ = model.eval()
        self.pretrain_tokens_ = (tokens.cpu(), masks.cpu())
        self.pretrain_curve_ = curve
        return self

    def _pair_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean pairwise ranking loss over the pairs of a minibatch whose targets differ."""
        import torch.nn.functional as F

        gap = pred.unsqueeze(1) - pred.unsqueeze(0)  # gap[i, j] = pred_i - pred_j
        better = target.unsqueeze(1) > target.unsqueeze(0)
        if not bool(better.any()):
            return pred.sum() * 0.0
        if self.rank_loss == "hinge":
            return F.relu(RANK_MARGIN - gap[better]).mean()
        return F.softplus(-RANK_SCALE * gap[better]).mean()

    def _train(self, archs: list[Arch], y: np.ndarray, rng: np.random.Generator,
               patience: int | None, on_epoch: EpochCallback | None = None) -> list[float]:
        import torch
        import torch.nn.functional as F

        tokens = self._tokens(archs).to(self.device_)
        masks = self._masks(tokens.cpu()).to(self.device_)
        target = torch.tensor(y, dtype=torch.float32, device=self.device_)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr,
                               weight_decay=self.weight_decay)
        model = self.model_.train()
        curve: list[float] = []
        best, since_best = math.inf, 0
        n = len(archs)
        replay = getattr(self, "pretrain_tokens_", None) if self.replay else None
        if replay is not None:
            replay = tuple(t.to(self.device_) for t in replay)
        for epoch in range(self.epochs):
            order = torch.from_numpy(rng.permutation(n)).to(self.device_)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                pred, log_probs = model(tokens[idx], masks[idx])
                mse = F.mse_loss(pred, target[idx])
                nll = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                 tokens[idx].reshape(-1))
                if replay is not None:  # keep reconstructing the pre-training architectures
                    pick = torch.from_numpy(rng.integers(len(replay[0]), size=self.replay)
                                            ).to(self.device_)
                    outputs, embedding = model.encoder(replay[0][pick])
                    replayed = model.decoder(replay[0][pick], outputs, embedding, replay[1][pick])
                    nll = (nll + F.nll_loss(replayed.reshape(-1, replayed.shape[-1]),
                                            replay[0][pick].reshape(-1))) / 2
                loss = self.trade_off * mse + (1 - self.trade_off) * nll
                if self.rank_loss_weight:
                    loss = loss + self.rank_loss_weight * self._pair_loss(pred, target[idx])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
                total += loss.item() * len(idx)
            curve.append(total / n)
            if on_epoch is not None:
                on_epoch(epoch + 1, self.epochs)
            if patience is not None:
                if curve[-1] < best - self.tol:
                    best, since_best = curve[-1], 0
                else:
                    since_best += 1
                    if since_best >= patience:
                        break
        model.eval()
        return curve

    @_no_grad
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted scores on the scale of the training scores, each the mean over up to
        ``predict_symmetries`` equivalent token sequences of its architecture."""
        self._check_fitted()
        if len(archs) == 0:
            return np.zeros(0)
        k = self.predict_symmetries  # 1 skips the space's symmetries (enas-micro builds 2**n)
        groups = [self.space.symmetries(a)[:k] if k > 1 else [a] for a in archs]
        flat = [variant for group in groups for variant in group]
        _, emb = self.model_.encoder(self._tokens(flat).to(self.device_))
        scaled = self.model_.predictor(emb).cpu().numpy().astype(np.float64)
        sizes = np.array([len(group) for group in groups])
        owner = np.repeat(np.arange(len(groups)), sizes)
        return self._unscale(np.bincount(owner, weights=scaled, minlength=len(groups)) / sizes)

    @_no_grad
    def encode(self, archs: Sequence[Arch]) -> torch.Tensor:
        """Architecture embeddings (N x hidden_size, unit length)."""
        self._check_fitted()
        _, emb = self.model_.encoder(self._tokens(archs).to(self.device_))
        return emb.cpu()

    @_no_grad
    def decode(self, embeddings: torch.Tensor, outputs: torch.Tensor | None = None) -> list[Arch]:
        """Greedy, grammar-masked decoding.

        ``embeddings`` (N x hidden) start the decoder; ``outputs`` (N x L x hidden), the
        per-token states to attend over, default to the embedding repeated at every position.
        """
        import torch

        self._check_fitted()
        embeddings = embeddings.to(self.device_)
        if outputs is None:
            outputs = embeddings.unsqueeze(1).expand(-1, self.space.length, -1).contiguous()
        decoder = self.model_.decoder
        n = embeddings.shape[0]
        state = decoder.initial_state(embeddings)
        inputs = torch.full((n, 1), decoder.vocab_size, dtype=torch.long, device=self.device_)
        prefixes: list[list[int]] = [[] for _ in range(n)]
        for _pos in range(self.space.length):
            mask = torch.from_numpy(np.stack([self.space.valid_mask(p) for p in prefixes]))
            log_probs, state = decoder.step(inputs, state, outputs,
                                            mask.unsqueeze(1).to(self.device_))
            chosen = log_probs[:, -1].argmax(dim=-1)
            for prefix, tok in zip(prefixes, chosen.tolist(), strict=True):
                prefix.append(tok)
            inputs = chosen.unsqueeze(1)
        return [self.space.from_tokens(p) for p in prefixes]

    def reconstruct(self, archs: Sequence[Arch]) -> list[Arch]:
        """Encode then decode: how well the autoencoder half has learned the architectures."""
        import torch

        self._check_fitted()
        with torch.no_grad():
            outputs, emb = self.model_.encoder(self._tokens(archs).to(self.device_))
        return self.decode(emb, outputs)

    def propose(self, seeds: Sequence[Arch], n: int,
                exclude: Iterable[Hashable] | None = None) -> list[Arch]:
        """Up to ``n`` new architectures predicted better than ``seeds``.

        The encoder outputs of every seed move along the predictor's gradient with step size
        ``step_size``, ``2 * step_size``, ... (at most ``max_step_size``) and are decoded; an
        architecture is new when its canonical key is neither among the training architectures,
        the seeds, ``exclude``, nor already proposed. Proposals come in the order found (step
        by step, seed by seed).
        """
        self._check_fitted()
        seeds = list(seeds)
        seen = set(self.train_keys_) | {self.space.canonical(a) for a in seeds}
        if exclude is not None:
            seen |= set(exclude)
        found: list[Arch] = []
        if n <= 0 or not seeds:
            return found
        # The encoder outputs and the gradient do not depend on the step size: computed once,
        # then each step only moves, normalizes and decodes. Several steps are decoded in one
        # batch (doubling up to PROPOSE_BATCH_STEPS), as propose often needs many.
        import torch

        outputs, grad = self.model_.gradient(self._tokens(seeds).to(self.device_))
        steps = self._step_sizes()
        chunk = 1
        while steps and len(found) < n:
            batch, steps = steps[:chunk], steps[chunk:]
            chunk = min(2 * chunk, PROPOSE_BATCH_STEPS)
            moved = [self.model_.move(outputs, grad, step) for step in batch]
            decoded = self.decode(torch.cat([emb for _, emb in moved]),
                                  torch.cat([out for out, _ in moved]))
            for arch in decoded:  # step-major, seed-minor: the order of one step at a time
                key = self.space.canonical(arch)
                if key not in seen:
                    seen.add(key)
                    found.append(arch)
                    if len(found) >= n:
                        break
        return found

    def _step_sizes(self) -> list[float]:
        """``step_size``, ``2 * step_size``, ... up to ``max_step_size``, each the sum of the
        previous and ``step_size`` (not a product), so the steps are the floats they always
        were."""
        steps: list[float] = []
        step = self.step_size
        while step <= self.max_step_size:
            steps.append(step)
            step += self.step_size
        return steps

    # ----- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a fitted estimator is (parameters, weights, target scale), as plain data."""
        self._check_fitted()
        return {
            "space": self.space.name,
            "params": {name: getattr(self, name) for name in self._PARAMS},
            "state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
            "y_sorted": self.y_sorted_.tolist(),
            "train_keys": sorted(self.train_keys_, key=repr),
            "loss_curve": self.loss_curve_,
            # what a warm-started fit replays, so a restored estimator fits on as the original
            **({"replay_tokens": self.pretrain_tokens_[0].tolist()}
               if self.replay and hasattr(self, "pretrain_tokens_") else {}),
        }

    @classmethod
    def from_state_dict(cls, blob: dict, space: TokenSpace) -> NAO:
        """The estimator :meth:`state_dict` gave, over ``space``: the space it was saved for
        (a saved model holds that space's name, not the space)."""
        from .model import NAOModel

        check_space(blob["space"], space, "this NAO model")
        # a model saved before predict_symmetries existed predicts as it did: its own sequence
        est = cls(space, **{"predict_symmetries": 1, **blob["params"]})
        est.device_ = resolve_device(est.device)
        est.model_ = NAOModel(len(space.vocab), est.embedding_size, est.hidden_size,
                              est.encoder_layers, est.decoder_layers, est.mlp_layers,
                              est.mlp_hidden_size, est.dropout)
        est.model_.load_state_dict(blob["state_dict"])
        est.model_.to(est.device_).eval()
        est.y_sorted_ = np.asarray(blob["y_sorted"])
        est.train_keys_ = set(blob["train_keys"])
        est.loss_curve_ = list(blob["loss_curve"])
        if "replay_tokens" in blob:
            import torch

            tokens = torch.tensor(blob["replay_tokens"], dtype=torch.long)
            est.pretrain_tokens_ = (tokens, est._masks(tokens))
        return est

    def save(self, path: str | Path) -> None:
        import torch

        torch.save(self.state_dict(), Path(path))

    @classmethod
    def load(cls, path: str | Path, space: TokenSpace) -> NAO:
        """An estimator written by :meth:`save`, over the space it was saved for. The file is
        read as plain data only, so no code in it runs; anything else is a :class:`DataError`
        naming the file, and another space a :class:`ConfigError`."""
        with _not_a_model(path):
            blob = load_plain(path)
            if not isinstance(blob, dict) or not set(SAVED_KEYS) <= set(blob):
                keys = ", ".join(k for k in SAVED_KEYS if k not in blob) \
                    if isinstance(blob, dict) else ""
                raise ValueError(f"no {keys}" if keys else f"a {type(blob).__name__}")
            if not isinstance(blob["space"], str):
                raise ValueError(f"its space is a {type(blob['space']).__name__}, not a name")
        check_space(blob["space"], space, f"the NAO model in {path}")
        with _not_a_model(path):
            return cls.from_state_dict(blob, space)


def check_space(saved: str, space: object, what: str) -> None:
    """A saved model is loaded only over a space, and only the one it was saved for."""
    if not isinstance(space, TokenSpace):
        raise ConfigError(f"loading {what} needs the search space object it was saved for, got "
                          f"{type(space).__name__}; pass search_spaces.get_space({saved!r})")
    if space.name != saved:
        raise ConfigError(f"{what} was saved for space {saved!r}, not {space.name!r}; load it "
                          f"with search_spaces.get_space({saved!r})")


@contextmanager
def _not_a_model(path: str | Path) -> Iterator[None]:
    """Whatever goes wrong reading a saved model becomes one :class:`DataError` line."""
    try:
        yield
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError, NaoError) as exc:
        reason = str(exc).splitlines()[0] if isinstance(exc, ValueError) and str(exc) \
            else one_line(exc)
        raise DataError(f"{path} is not a NAO model written by NAO.save ({reason}); pass a "
                        "file that NAO.save wrote") from None


SAVED_KEYS = ("space", "params", "state_dict", "y_sorted", "train_keys", "loss_curve")
LOAD_REASON_CHARS = 160  # a reason longer than this is cut: the error stays one readable line


def load_plain(path: str | Path) -> object:
    """What a torch file holds, read with ``weights_only=True``: tensors and plain containers
    only, so a crafted file cannot run code. Anything unreadable is a ``ValueError`` whose
    one-line message says why (empty, cut short, not a torch file, refers to code)."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns on stderr about old pickle protocols
            warnings.simplefilter("ignore")
            return torch.load(Path(path), map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ValueError(exc.strerror or type(exc).__name__) from None
    except EOFError:
        raise ValueError("the file is empty or cut short") from None
    except pickle.UnpicklingError as exc:
        code = re.search(r"GLOBAL ([\w.]+)", str(exc))
        raise ValueError(f"it refers to {code.group(1)}, which is not plain data; nothing in "
                         "it was run" if code else "it holds more than tensors and plain data"
                         ) from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        damaged = "zip archive" in str(exc)
        raise ValueError("a damaged or cut-short torch file" if damaged
                         else f"not a torch file: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    """An exception as one short line, for messages that must stay one line."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= LOAD_REASON_CHARS else text[:LOAD_REASON_CHARS - 3] + "..."
