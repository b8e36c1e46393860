"""The ENAS / NAS-RL controller as an ask/tell strategy.

An LSTM writes an architecture one token at a time; at every position the space says which tokens
are valid (:meth:`SearchSpace.valid_mask`) and the rest get probability zero, so every sample is a
valid architecture of any space without a line of space-specific code. The controller is trained
with REINFORCE on the scores it is told, with an exponential-moving-average baseline and an
entropy bonus (Zoph & Le 2017; Pham et al. 2018).

Reward scaling. Tabular accuracies sit in a narrow band (NAS-Bench-Graph cora: 90 % of the table
between 0.64 and 0.80), so ``score - baseline`` is of order 0.01. Adam makes the step size nearly
independent of that scale, but the entropy bonus is not: against advantages of 0.01 the same
entropy weight counts a hundred times as much as against advantages of order one.
With ``reward_scaling="std"`` (the default) advantages are divided by the standard deviation of
every score told so far, so one unit of advantage is one standard deviation of this search's
scores whatever the benchmark, and the ENAS weights keep their meaning. The baseline is kept on
the raw scores, so the scale can change between batches without shifting it.

Learning rate. ENAS's 3.5e-4 is the default, but ENAS made thousands of controller updates; a
200-query search with batches of 10 makes 20, which barely moves the policy from uniform. Measured
on NAS-Bench-Graph (20 seeds, 200 queries, median validation rank of the pick): cora 111 with the
default, 70 with ``lr=0.01``, 82 for random search; citeseer 92, 8 and 72. For tabular budgets pass
``--set lr=0.01`` (``--set rl.lr=0.01`` in ``nao benchmark``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nao.errors import InvalidArchitectureError
from nao.seeding import seeded_torch
from nao.space import prefix_masks
from nao.threads import torch_threads
from nao.validation import check_choice, check_float, check_int
from search_spaces.base import Arch, SearchSpace

from .base import Strategy

# ENAS defaults (Pham et al. 2018, as in the widely used PyTorch port of the ENAS controller).
ENAS_HIDDEN_SIZE = 100
ENAS_LR = 3.5e-4
ENAS_BASELINE_DECAY = 0.95
ENAS_ENTROPY_WEIGHT = 1e-4
ENAS_TEMPERATURE = 5.0
ENAS_TANH_CONSTANT = 2.5
ENAS_INIT_RANGE = 0.1  # every policy weight starts uniform in [-0.1, 0.1]
DEFAULT_BATCH_SIZE = 10
MAX_RESAMPLE_ROUNDS = 10  # policy draws per ask before the shortfall is filled at random
REWARD_SCALINGS = ("std", "none")
# option bounds: far beyond useful values, so a typo is a clear error, not a failed allocation
MAX_HIDDEN_SIZE = 1024  # ENAS uses 100
MAX_RESAMPLE_LIMIT = 1000
MIN_TEMPERATURE = 1e-3  # logits are divided by it; smaller overflows to inf/nan probabilities
MAX_WEIGHT = 1e3  # entropy_weight and tanh_constant above it overflow float32 to nan
_STD_FLOOR = 1e-8
# torch threads: the policy network is so small that more threads only cost synchronization (10x
# slower on a busy 2-core machine), and parallel searches share cores
THREADS = 1


class PolicyLSTM(nn.Module):
    """Token-by-token policy: an LSTM cell whose input is the previous token's embedding.

    Each position has its own output layer, as ENAS has one softmax per decision; logits are
    divided by ``temperature``, squashed with ``tanh_constant * tanh`` and masked to valid tokens.
    """

    def __init__(self, vocab_size: int, length: int, hidden_size: int, temperature: float,
                 tanh_constant: float | None):
        super().__init__()
        self.length = length
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden_size))
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.cell = nn.LSTMCell(hidden_size, hidden_size)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, vocab_size) for _ in range(length))
        for p in self.parameters():
            nn.init.uniform_(p, -ENAS_INIT_RANGE, ENAS_INIT_RANGE)

    def _logits(self, h: torch.Tensor, pos: int, mask: torch.Tensor) -> torch.Tensor:
        logits = self.heads[pos](h) / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits.masked_fill(~mask, float("-inf"))

    def _input(self, tokens: torch.Tensor | None, n: int) -> torch.Tensor:
        return self.start.expand(n, -1) if tokens is None else self.embed(tokens)

    @torch.no_grad()
    def sample(self, n: int, space: SearchSpace, generator: torch.Generator) -> list[list[int]]:
        """``n`` token sequences, each token drawn among those the space allows after its
        prefix."""
        rows: list[list[int]] = [[] for _ in range(n)]
        state = None
        prev: torch.Tensor | None = None
        for pos in range(self.length):
            h, c = self.cell(self._input(prev, n), state)
            state = (h, c)
            mask = torch.from_numpy(np.stack([space.valid_mask(r) for r in rows]))
            probs = torch.softmax(self._logits(h, pos, mask), dim=-1)
            prev = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            for row, tok in zip(rows, prev.tolist(), strict=True):
                row.append(int(tok))
        return rows

    def log_prob_entropy(self, tokens: torch.Tensor, masks: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-position log-probabilities ``(n, length)`` of the given sequences (teacher
        forcing) and the summed entropy of the distributions along each; ``masks`` is
        ``(n, length, vocab)``."""
        n = tokens.shape[0]
        log_p: list[torch.Tensor] = []
        entropy = torch.zeros(n)
        state = None
        prev: torch.Tensor | None = None
        for pos in range(self.length):
            h, c = self.cell(self._input(prev, n), state)
            state = (h, c)
            log_probs = torch.log_softmax(self._logits(h, pos, masks[:, pos]), dim=-1)
            log_p.append(log_probs.gather(1, tokens[:, pos : pos + 1]).squeeze(1))
            probs = log_probs.exp()
            entropy = entropy - (probs * log_probs.masked_fill(probs == 0, 0.0)).sum(-1)
            prev = tokens[:, pos]
        return torch.stack(log_p, dim=1), entropy


class RLController(Strategy):
    """ENAS-style controller trained with REINFORCE; one policy-gradient step per told batch.

    Every told architecture contributes, including the random ones that fill an ask when the
    controller keeps proposing known architectures: their log-probabilities are recomputed under
    the current policy, so a good random find still pulls the policy towards it.

    "Controller" names this strategy, as ``nao ws --controller rl`` does; its network is the
    *policy* (:class:`PolicyLSTM`, ``policy_``).
    """

    def __init__(self, space: SearchSpace, random_state: int | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, hidden_size: int = ENAS_HIDDEN_SIZE,
                 lr: float = ENAS_LR, baseline_decay: float = ENAS_BASELINE_DECAY,
                 entropy_weight: float = ENAS_ENTROPY_WEIGHT,
                 temperature: float = ENAS_TEMPERATURE,
                 tanh_constant: float | None = ENAS_TANH_CONSTANT,
                 reward_scaling: str = "std", max_resample_rounds: int = MAX_RESAMPLE_ROUNDS):
        super().__init__(space, random_state)
        owner = "rl strategy"
        self.ask_size = check_int(owner, "batch_size", batch_size, 1)
        self.hidden_size = check_int(owner, "hidden_size", hidden_size, 1, MAX_HIDDEN_SIZE)
        self.lr = check_float(owner, "lr", lr, 0, 1, low_open=True)
        self.baseline_decay = check_float(owner, "baseline_decay", baseline_decay, 0, 1,
                                          high_open=True)
        self.entropy_weight = check_float(owner, "entropy_weight", entropy_weight, 0,
                                          MAX_WEIGHT)
        self.temperature = check_float(owner, "temperature", temperature, MIN_TEMPERATURE)
        self.tanh_constant = check_float(owner, "tanh_constant", tanh_constant, 0,
                                         MAX_WEIGHT, low_open=True, optional=True)
        self.reward_scaling = check_choice(owner, "reward_scaling", reward_scaling,
                                           REWARD_SCALINGS)
        self.max_resample_rounds = check_int(owner, "max_resample_rounds", max_resample_rounds,
                                             0, MAX_RESAMPLE_LIMIT)
        seed = int(self.rng.integers(2**63 - 1))
        with seeded_torch(seed):  # the policy lives on the CPU
            self.policy_ = PolicyLSTM(len(space.vocab), space.length, self.hidden_size,
                                              self.temperature, self.tanh_constant)
        self.generator_ = torch.Generator().manual_seed(seed)
        self.optimizer_ = torch.optim.Adam(self.policy_.parameters(), lr=self.lr)
        self.baseline_: float | None = None
        self.n_random_fill = 0
        self.n_updates = 0

    # ----- ask ---------------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        with torch_threads(THREADS):
            return self._ask(n)

    def _ask(self, n: int) -> list[Arch]:
        taken = set(self.seen)
        out: list[Arch] = []
        for _ in range(1 + self.max_resample_rounds):
            if len(out) >= n:
                break
            rows = self.policy_.sample(n - len(out), self.space, self.generator_)
            new = self.space.distinct(map(self._arch_or_none, rows), n - len(out), taken)
            taken.update(self.space.canonical(a) for a in new)
            out += new
        if len(out) < n:
            fill = self.sample_unseen(n - len(out), exclude=taken)
            self.n_random_fill += len(fill)
            out += fill
        return out

    def _arch_or_none(self, tokens: list[int]) -> Arch | None:
        try:
            return self.space.from_tokens(tokens)
        except InvalidArchitectureError:  # a whole-architecture rule the mask can't see
            return None

    # ----- tell --------------------------------------------------------------------------
    def tell(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        super().tell(archs, scores)
        if len(archs):
            with torch_threads(THREADS):
                self._reinforce(list(archs), np.asarray(scores, dtype=float))

    def _advantages(self, scores: np.ndarray) -> np.ndarray:
        """Score minus the moving-average baseline, which is updated after each score in turn."""
        if self.baseline_ is None:
            self.baseline_ = float(scores.mean())
        adv = np.empty_like(scores)
        for i, r in enumerate(scores):
            adv[i] = r - self.baseline_
            self.baseline_ = self.baseline_decay * self.baseline_ + (1 - self.baseline_decay) * r
        if self.reward_scaling == "std":
            adv /= max(float(np.std(self.scores)), _STD_FLOOR)
        return adv

    def _reinforce(self, archs: list[Arch], scores: np.ndarray) -> None:
        tokens = torch.tensor([self.space.to_tokens(a) for a in archs], dtype=torch.long)
        masks = self._masks(tokens.tolist())
        adv = torch.as_tensor(self._advantages(scores), dtype=torch.float32)
        log_p, entropy = self.policy_.log_prob_entropy(tokens, masks)
        loss = -(adv * log_p.sum(1)).mean() - self.entropy_weight * entropy.mean()
        self.optimizer_.zero_grad()
        loss.backward()
        self.optimizer_.step()
        self.n_updates += 1

    def _masks(self, rows: list[list[int]]) -> torch.Tensor:
        return torch.from_numpy(prefix_masks(self.space, rows))

    # ----- inspection and persistence ----------------------------------------------------
    def token_log_probs(self, archs: Sequence[Arch]) -> np.ndarray:
        """``(n, length)``: log-probability of each token given its prefix under the current
        policy; the row sum is the log-probability of sampling the architecture's sequence."""
        rows = [list(self.space.to_tokens(a)) for a in archs]
        with torch.no_grad(), torch_threads(THREADS):
            log_p, _ = self.policy_.log_prob_entropy(torch.tensor(rows, dtype=torch.long),
                                                         self._masks(rows))
        return log_p.numpy()

    def state_dict(self) -> dict:
        state = super().state_dict()
        # "controller" stays the key: checkpoints written before the rename load
        state.update(controller=self.policy_.state_dict(),
                     optimizer=self.optimizer_.state_dict(), baseline=self.baseline_,
                     generator=self.generator_.get_state(), n_random_fill=self.n_random_fill,
                     n_updates=self.n_updates)
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.policy_.load_state_dict(state["controller"])
        self.optimizer_.load_state_dict(state["optimizer"])
        self.baseline_ = state["baseline"]
        self.generator_.set_state(state["generator"])
        self.n_random_fill = state["n_random_fill"]
        self.n_updates = state["n_updates"]
