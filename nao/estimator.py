"""The NAO estimator: scikit-learn style ``fit``/``predict`` plus ``encode``/``decode``/``propose``.

Defaults follow the paper and the authors' code (unit-normalized encoder outputs, targets under a
sigmoid, loss ``trade_off * MSE + (1 - trade_off) * NLL``, Adam at 1e-3 with
L2 1e-4, gradient-norm clipping at 5, up to 1000 epochs, symmetric copies of every training
architecture, and ``propose`` raising the step size by ``step_size`` until enough new
architectures decode), except that targets are scaled by rank rather than min-max by default
(``target_transform``; measured in docs/results.md).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from search_spaces.base import Arch, SearchSpace

from .errors import ConfigError
from .model import NAOModel


@contextmanager
def _torch_threads(n: int | None):
    """Run a block with ``n`` torch CPU threads, restoring the previous count."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is visible; use auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


class NAO:
    """Encoder-predictor-decoder over a :class:`SearchSpace`.

    Parameters are stored as given (scikit-learn convention); learned state ends in ``_``.
    ``max_symmetries`` caps how many equivalent token sequences of each training architecture
    are added (1 = no augmentation). ``patience`` stops training early once the training loss
    has not improved by ``tol`` for that many epochs (``None`` trains all ``epochs``).
    ``warm_start`` (scikit-learn's meaning) continues training the fitted networks on the new
    data instead of starting afresh, as the authors' code does between search rounds;
    ``warm_patience`` is the patience of such a continued fit (``None``: ``patience``): networks
    already fitted to most of the data need far fewer epochs than a fresh start.
    ``target_transform`` maps scores into [0, 1] for the sigmoid: ``minmax`` (the paper) or
    ``rank`` (quantiles among the training scores), which keeps a few failed architectures from
    squeezing every good one into the top few percent of the range.
    ``num_threads`` caps torch's CPU threads while training (``None`` leaves torch's setting):
    these networks are tiny, gain nothing from more threads, and stall badly when the cores are
    shared with other work.
    """

    def __init__(self, space: SearchSpace, *, embedding_size: int = 48, hidden_size: int = 96,
                 encoder_layers: int = 1, decoder_layers: int = 1, mlp_layers: int = 3,
                 mlp_hidden_size: int = 200, dropout: float = 0.1, trade_off: float = 0.8,
                 epochs: int = 1000, batch_size: int = 100, lr: float = 1e-3,
                 weight_decay: float = 1e-4, grad_clip: float = 5.0, max_symmetries: int = 4,
                 patience: int | None = 100, tol: float = 1e-4, step_size: float = 1.0,
                 max_step_size: float = 100.0, warm_start: bool = False,
                 warm_patience: int | None = None,
                 target_transform: str = "rank", num_threads: int | None = 1,
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
        self.patience = patience
        self.tol = tol
        self.step_size = step_size
        self.max_step_size = max_step_size
        self.warm_start = warm_start
        self.warm_patience = warm_patience
        self.target_transform = target_transform
        self.num_threads = num_threads
        self.device = device
        self.random_state = random_state

    _PARAMS = ("embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "mlp_layers",
               "mlp_hidden_size", "dropout", "trade_off", "epochs", "batch_size", "lr",
               "weight_decay", "grad_clip", "max_symmetries", "patience", "tol", "step_size",
               "max_step_size", "warm_start", "warm_patience", "target_transform", "num_threads", "device", "random_state")

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self._PARAMS}

    # ----- helpers -------------------------------------------------------------------------
    def _tokens(self, archs: Sequence[Arch]) -> torch.Tensor:
        return torch.tensor([self.space.to_tokens(a) for a in archs], dtype=torch.long)

    def _masks(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-position validity masks of the space along each (teacher-forced) sequence."""
        rows = tokens.tolist()
        return torch.from_numpy(np.stack([
            np.stack([self.space.valid_mask(row[:t]) for t in range(len(row))]) for row in rows
        ]))

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
    def fit(self, archs: Sequence[Arch], scores: Iterable[float]) -> NAO:
        """Train encoder, predictor and decoder jointly on evaluated architectures."""
        archs = list(archs)
        y = np.asarray(list(scores), dtype=np.float64)
        if len(archs) != len(y):
            raise ConfigError(f"fit got {len(archs)} architectures but {len(y)} scores")
        if len(archs) < 2:
            raise ConfigError("fit needs at least 2 evaluated architectures")
        if not np.all(np.isfinite(y)):
            raise ConfigError("fit got a score that is NaN or infinite; drop failed evaluations")
        for arch in archs:  # reject foreign architectures with the space's own error
            self.space.from_tokens(self.space.to_tokens(arch))
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        self.device_ = resolve_device(self.device)
        if self.target_transform not in ("minmax", "rank"):
            raise ConfigError(f"target_transform must be minmax or rank, not "
                              f"{self.target_transform!r}")
        self.y_sorted_ = np.sort(y)
        self.train_keys_ = {self.space.canonical(a) for a in archs}
        train_archs, train_y = self._augment(archs, self._scale(y), rng)

        with torch.random.fork_rng(devices=[]), _torch_threads(self.num_threads):
            torch.manual_seed(seed)
            continued = self.warm_start and hasattr(self, "model_")
            if not continued:
                self.model_ = NAOModel(
                    len(self.space.vocab), self.embedding_size, self.hidden_size,
                    self.encoder_layers, self.decoder_layers, self.mlp_layers,
                    self.mlp_hidden_size, self.dropout,
                ).to(self.device_)
            patience = self.patience
            if continued and self.warm_patience is not None:
                patience = self.warm_patience
            self.loss_curve_ = self._train(train_archs, train_y, rng, patience)
        return self

    def _train(self, archs: list[Arch], y: np.ndarray, rng: np.random.Generator,
               patience: int | None) -> list[float]:
        tokens = self._tokens(archs).to(self.device_)
        masks = self._masks(tokens.cpu()).to(self.device_)
        target = torch.tensor(y, dtype=torch.float32, device=self.device_)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr,
                               weight_decay=self.weight_decay)
        model = self.model_.train()
        curve: list[float] = []
        best, since_best = math.inf, 0
        n = len(archs)
        for _epoch in range(self.epochs):
            order = torch.from_numpy(rng.permutation(n)).to(self.device_)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                pred, log_probs = model(tokens[idx], masks[idx])
                mse = F.mse_loss(pred, target[idx])
                nll = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                 tokens[idx].reshape(-1))
                loss = self.trade_off * mse + (1 - self.trade_off) * nll
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
                total += loss.item() * len(idx)
            curve.append(total / n)
            if patience is not None:
                if curve[-1] < best - self.tol:
                    best, since_best = curve[-1], 0
                else:
                    since_best += 1
                    if since_best >= patience:
                        break
        model.eval()
        return curve

    @torch.no_grad()
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted scores on the scale of the training scores."""
        self._check_fitted()
        if len(archs) == 0:
            return np.zeros(0)
        _, emb = self.model_.encoder(self._tokens(archs).to(self.device_))
        scaled = self.model_.predictor(emb).cpu().numpy().astype(np.float64)
        return self._unscale(scaled)

    @torch.no_grad()
    def encode(self, archs: Sequence[Arch]) -> torch.Tensor:
        """Architecture embeddings (N x hidden_size, unit length)."""
        self._check_fitted()
        _, emb = self.model_.encoder(self._tokens(archs).to(self.device_))
        return emb.cpu()

    @torch.no_grad()
    def decode(self, embeddings: torch.Tensor, outputs: torch.Tensor | None = None) -> list[Arch]:
        """Greedy, grammar-masked decoding.

        ``embeddings`` (N x hidden) start the decoder; ``outputs`` (N x L x hidden), the
        per-token states to attend over, default to the embedding repeated at every position.
        """
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
        the seeds, ``exclude``, nor already proposed. Proposals come in the order found.
        """
        self._check_fitted()
        seen = set(self.train_keys_) | {self.space.canonical(a) for a in seeds}
        if exclude is not None:
            seen |= set(exclude)
        tokens = self._tokens(list(seeds)).to(self.device_)
        found: list[Arch] = []
        step = self.step_size
        while len(found) < n and step <= self.max_step_size and len(seeds):
            outputs, emb, _ = self.model_.improve(tokens, step)
            for arch in self.decode(emb, outputs):
                key = self.space.canonical(arch)
                if key not in seen:
                    seen.add(key)
                    found.append(arch)
                    if len(found) >= n:
                        break
            step += self.step_size
        return found

    # ----- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a fitted estimator is (parameters, weights, target scale), as plain data."""
        self._check_fitted()
        return {
            "space": self.space.name,
            "params": self.get_params(),
            "state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
            "y_sorted": self.y_sorted_.tolist(),
            "train_keys": sorted(self.train_keys_, key=repr),
            "loss_curve": self.loss_curve_,
        }

    @classmethod
    def from_state_dict(cls, blob: dict, space: SearchSpace | None = None) -> NAO:
        from search_spaces import get_space

        space = space or get_space(blob["space"])
        est = cls(space, **blob["params"])
        est.device_ = resolve_device(est.device)
        est.model_ = NAOModel(len(space.vocab), est.embedding_size, est.hidden_size,
                              est.encoder_layers, est.decoder_layers, est.mlp_layers,
                              est.mlp_hidden_size, est.dropout)
        est.model_.load_state_dict(blob["state_dict"])
        est.model_.to(est.device_).eval()
        est.y_sorted_ = np.asarray(blob["y_sorted"])
        est.train_keys_ = set(blob["train_keys"])
        est.loss_curve_ = list(blob["loss_curve"])
        return est

    def save(self, path: str | Path) -> None:
        torch.save(self.state_dict(), Path(path))

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> NAO:
        blob = torch.load(Path(path), map_location="cpu", weights_only=False)
        return cls.from_state_dict(blob, space)
