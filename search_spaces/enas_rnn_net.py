"""Networks of the enas-rnn space: the recurrent cell of one architecture, the shared-weight
supernet cell, an LSTM of the same size as baseline, and the word-level language model around
any of them.

The cell (ENAS's, with its highway connections): node 1 computes
``c = sigmoid(W_x^c x_t + W_h^c h_{t-1})``, ``s_1 = c * act(W_x^h x_t + W_h^h h_{t-1}) +
(1 - c) * h_{t-1}``; node ``k`` reading node ``j`` computes ``c = sigmoid(W_kj^c s_j)``,
``s_k = c * act(W_kj^h s_j) + (1 - c) * s_j``; ``h_t`` is the mean of the loose ends. The gate
and the candidate of a node are one matrix with ``2 * hidden`` outputs (split in two).

Weights are named by edge (``cell.edges.K_J``: node K reading node J), so the supernet cell,
which holds every pair, and a child cell, which holds its own, share parameter names: a child
loads the supernet's weights as they are (:meth:`WordLM.load_shared`).

The language model follows ENAS / DARTS on PTB: embedding, the cell unrolled over the segment,
a softmax tied to the embedding, and their dropouts: ``dropoute`` drops whole words of the
embedding, ``dropouti`` / ``dropout`` are locked (variational) masks on the cell's input and
output, fixed over the time steps of a segment, and ``dropoutx`` / ``dropouth`` the cell's own
masks on ``x_t`` and on every node's input. The hidden state carries over from one BPTT segment
to the next (detached), one carry for training and one for evaluation.

The supernet cell also runs the relaxed cell of DARTS's recurrent search (its mixed-op path, what
the relaxed methods train through) on :class:`RnnWeights`, a weight per activation of every node
and per earlier node it may read: node ``k`` computes the highway step of every edge ``(k, j)``
with the activations mixed by their weights and sums the edges by the input weights; ``h_t``
weights node ``k`` by the probability that no later node reads it. One-hot weights compute the
discrete cell they name (:meth:`SupernetCell.run_mixed`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nao.errors import ConfigError
from nao.validation import shown

from .enas_rnn_arch import ACTIVATIONS as ACTIVATION_NAMES
from .enas_rnn_arch import RnnArch, edges, loose_ends
from .sums import add_all

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
}
if tuple(ACTIVATIONS) != ACTIVATION_NAMES:  # the space's token order names these functions
    raise RuntimeError(f"enas_rnn_net.ACTIVATIONS {tuple(ACTIVATIONS)} differ from the space's "
                       f"{ACTIVATION_NAMES}")

# DARTS's search settings on PTB (the code base of NAO's language models): heavy dropout on the
# cell's input and output, lighter on the recurrence, none on the embedding during search
DROPOUTS: dict[str, float] = {"dropout": 0.75, "dropouth": 0.25, "dropoutx": 0.75,
                              "dropouti": 0.2, "dropoute": 0.0}
CELL_INIT = 0.04  # uniform init range of the cell's matrices (DARTS's INITRANGE)
EMBED_INIT = 0.1  # uniform init range of the (tied) embedding, as the PyTorch word LM example


def resolve_dropouts(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """:data:`DROPOUTS` with ``overrides``; an unknown name or a rate outside [0, 1) is a
    one-line ConfigError."""
    out = dict(DROPOUTS)
    for name, rate in (overrides or {}).items():
        if name not in DROPOUTS:
            raise ConfigError(f"unknown dropout {shown(name)}; choose among "
                              f"{', '.join(DROPOUTS)}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ConfigError(f"{name} must be a rate in [0, 1), got {shown(rate)}")
        out[name] = float(rate)
    return out


def dropout_mask(like: torch.Tensor, rate: float, training: bool) -> torch.Tensor | None:
    """A mask of ``like``'s shape, kept entries scaled by ``1 / (1 - rate)``; ``None`` when no
    dropout applies (evaluation, or rate 0)."""
    if not training or rate == 0:
        return None
    return like.new_empty(like.shape).bernoulli_(1 - rate) / (1 - rate)


def locked_dropout(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Variational dropout on a ``T x B x H`` sequence: one mask per sequence and unit, the same
    at every time step."""
    mask = dropout_mask(x[0], rate, training)
    return x if mask is None else x * mask


MAX_HIDDEN_NORM = 25.0  # ENAS's PyTorch port: a carried state's rows rescaled to this norm


def detach_state(state):
    """The hidden state cut from the graph (a tensor, or the LSTM's pair)."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def bound_state(state):
    """The cell's state with each row's norm capped at :data:`MAX_HIDDEN_NORM` (after every
    step): cells with identity / ReLU nodes are unbounded, and their state otherwise grows
    until the loss is NaN (seen at lr 20 within one epoch); the LSTM's pair is left alone."""
    if isinstance(state, tuple):
        return state
    norms = state.norm(dim=-1, keepdim=True)
    return state * (MAX_HIDDEN_NORM / norms.clamp(min=MAX_HIDDEN_NORM))


class RnnWeights(NamedTuple):
    """The relaxed choice of every node (the mixed-op path of DARTS and SNAS on a recurrent
    cell): ``acts[k - 1]`` weights node ``k``'s activations (in :data:`ACTIVATIONS` order),
    ``inputs[k - 2]`` the nodes ``1 .. k - 1`` node ``k`` > 1 may read. One-hot weights compute
    exactly the discrete cell they name; gradients flow back into all of them."""

    acts: tuple[torch.Tensor, ...]
    inputs: tuple[torch.Tensor, ...]

    def to(self, device: torch.device | str) -> RnnWeights:
        """The weights on ``device`` (the relaxed methods keep ``alpha`` on the CPU)."""
        return RnnWeights(tuple(w.to(device) for w in self.acts),
                          tuple(w.to(device) for w in self.inputs))

    @classmethod
    def one_hot(cls, arch: RnnArch) -> RnnWeights:
        """Weight 1 on each node's activation and on the node it reads, 0 elsewhere."""
        acts = tuple(F.one_hot(torch.tensor(ACTIVATION_NAMES.index(node.act)),
                               len(ACTIVATION_NAMES)).float() for node in arch.nodes)
        inputs = tuple(F.one_hot(torch.tensor(node.prev - 1), k - 1).float()
                       for k, node in enumerate(arch.nodes, start=1) if k > 1)
        return cls(acts, inputs)


def mixed_activation(weights: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """``sum_o weights[o] * o(v)`` over :data:`ACTIVATIONS` in order (one-hot: ``o(v)``
    exactly)."""
    return add_all(w * act(v) for w, act in zip(weights, ACTIVATIONS.values(), strict=True))


class HighwayCell(nn.Module):
    """The cell's computation for any architecture whose edges it holds (``edges`` are the
    ``(k, j)`` pairs: node k reading node j)."""

    def __init__(self, input_size: int, hidden_size: int, pairs: Iterable[tuple[int, int]],
                 dropoutx: float = 0.0, dropouth: float = 0.0):
        super().__init__()
        self.hidden_size = hidden_size
        self.dropoutx, self.dropouth = dropoutx, dropouth
        self.w_x = nn.Linear(input_size, 2 * hidden_size, bias=False)
        self.w_h = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.edges = nn.ModuleDict({f"{k}_{j}": nn.Linear(hidden_size, 2 * hidden_size,
                                                          bias=False) for k, j in pairs})
        for p in self.parameters():
            nn.init.uniform_(p, -CELL_INIT, CELL_INIT)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device)

    def run(self, x: torch.Tensor, h: torch.Tensor, arch: RnnArch
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (``T x B x input``) through the cell of ``arch`` from ``h`` (``B x hidden``):
        every step's hidden state (``T x B x hidden``) and the last."""
        mask_x = dropout_mask(x[0], self.dropoutx, self.training)
        mask_h = dropout_mask(h, self.dropouth, self.training)
        gates_x = self.w_x(x if mask_x is None else x * mask_x)  # all steps at once
        acts = [ACTIVATIONS[node.act] for node in arch.nodes]
        links = [(self.edges[f"{k}_{j}"], j) for k, j in edges(arch)]
        ends = [k - 1 for k in loose_ends(arch)]
        outputs = []
        for t in range(x.shape[0]):
            c, v = (gates_x[t] + self.w_h(h if mask_h is None else h * mask_h)).chunk(2, -1)
            c = torch.sigmoid(c)
            states = [c * acts[0](v) + (1 - c) * h]
            for i, (w, j) in enumerate(links, start=1):
                s = states[j - 1]
                c, v = w(s if mask_h is None else s * mask_h).chunk(2, -1)
                c = torch.sigmoid(c)
                states.append(c * acts[i](v) + (1 - c) * s)
            h = bound_state(torch.stack([states[k] for k in ends]).mean(0))
            outputs.append(h)
        return torch.stack(outputs), h


class EnasRnnCell(HighwayCell):
    """The cell of one architecture, holding only the weights it uses."""

    def __init__(self, arch: RnnArch, input_size: int, hidden_size: int,
                 dropoutx: float = 0.0, dropouth: float = 0.0):
        super().__init__(input_size, hidden_size, edges(arch), dropoutx, dropouth)
        self.arch = arch

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run(x, h, self.arch)


class SupernetCell(HighwayCell):
    """ENAS's shared cell: a matrix for every (node, earlier node) pair of ``nodes`` nodes, so
    each architecture of the space runs on its own subset of one set of weights."""

    def __init__(self, nodes: int, input_size: int, hidden_size: int,
                 dropoutx: float = 0.0, dropouth: float = 0.0):
        pairs = [(k, j) for k in range(2, nodes + 1) for j in range(1, k)]
        super().__init__(input_size, hidden_size, pairs, dropoutx, dropouth)
        self.nodes = nodes

    def forward(self, x: torch.Tensor, h: torch.Tensor, arch: RnnArch | RnnWeights
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell of ``arch``, or the relaxed cell its :class:`RnnWeights` describe."""
        if isinstance(arch, RnnWeights):
            if len(arch.acts) != self.nodes or len(arch.inputs) != self.nodes - 1:
                raise ConfigError(f"the supernet cell has {self.nodes} nodes, the weights "
                                  f"{len(arch.acts)}; build them from the supernet's space")
            return self.run_mixed(x, h, arch.to(x.device))
        if len(arch.nodes) != self.nodes:
            raise ConfigError(f"the supernet cell has {self.nodes} nodes, the architecture "
                              f"{len(arch.nodes)}; build the supernet of the architecture's space")
        return self.run(x, h, arch)

    def run_mixed(self, x: torch.Tensor, h: torch.Tensor, weights: RnnWeights
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`run` on the relaxed cell (DARTS's recurrent search). Node 1 mixes its
        activations; node ``k`` runs every edge ``(k, j)`` on ``s_j`` (the same ``dropouth``
        mask), ``e_kj = c_kj * sum_o a_ko o(v_kj) + (1 - c_kj) * s_j``, and takes
        ``s_k = sum_j p_kj e_kj``. The output weights node ``k`` by ``u_k = prod_{m > k}
        (1 - p_mk)``, the probability that no later node reads it (one-hot: the loose ends):
        ``h = sum_k u_k s_k / sum_k u_k``. The masks are drawn as :meth:`run` draws them."""
        mask_x = dropout_mask(x[0], self.dropoutx, self.training)
        mask_h = dropout_mask(h, self.dropouth, self.training)
        gates_x = self.w_x(x if mask_x is None else x * mask_x)  # all steps at once
        acts = [w.unbind() for w in weights.acts]
        reads = [w.unbind() for w in weights.inputs]
        links = [[self.edges[f"{k}_{j}"] for j in range(1, k)] for k in range(2, self.nodes + 1)]
        # read[m - 2, k - 1] = p_mk (0 where k >= m): u_k is column k's product of 1 - p
        read = torch.stack([F.pad(w, (0, self.nodes - len(w))) for w in weights.inputs])
        unread = (1 - read).prod(0)
        total, unread = unread.sum(), unread.unbind()
        outputs = []
        for t in range(x.shape[0]):
            c, v = (gates_x[t] + self.w_h(h if mask_h is None else h * mask_h)).chunk(2, -1)
            c = torch.sigmoid(c)
            states = [c * mixed_activation(acts[0], v) + (1 - c) * h]
            masked = [states[0] if mask_h is None else states[0] * mask_h]
            for k in range(2, self.nodes + 1):
                terms = []
                for j, (w, p) in enumerate(zip(links[k - 2], reads[k - 2], strict=True), 1):
                    c, v = w(masked[j - 1]).chunk(2, -1)
                    c = torch.sigmoid(c)
                    terms.append(p * (c * mixed_activation(acts[k - 1], v)
                                      + (1 - c) * states[j - 1]))
                node = add_all(terms)
                states.append(node)
                masked.append(node if mask_h is None else node * mask_h)
            h = bound_state(add_all(u * s for u, s in zip(unread, states, strict=True)) / total)
            outputs.append(h)
        return torch.stack(outputs), h


class LstmCell(nn.Module):
    """A one-layer LSTM with the cell's interface, the baseline of the same hidden size (its
    input and output dropouts are the language model's; it has no recurrent masks)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size)

    def init_hidden(self, batch: int, device: torch.device | str = "cpu"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(1, batch, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(x, state)


class WordLM(nn.Module):
    """Embedding -> recurrent cell over the segment -> softmax tied to the embedding.

    ``model(x)`` (``model(x, arch)`` with a supernet cell, ``arch`` an architecture or its
    relaxed :class:`RnnWeights`) takes a ``T x B`` segment of word
    ids and returns next-word logits flattened to ``T * B x vocab``, starting from the hidden
    state the previous segment of the same mode (training or evaluation) ended in; that is what
    the training loops call. :meth:`step` is the same with the state passed explicitly.
    """

    def __init__(self, cell: nn.Module, vocab_size: int, hidden_size: int,
                 dropouts: Mapping[str, float] | None = None):
        super().__init__()
        drop = resolve_dropouts(dropouts)
        self.dropout, self.dropouti, self.dropoute = (drop["dropout"], drop["dropouti"],
                                                      drop["dropoute"])
        self.hidden_size = hidden_size
        self.encoder = nn.Embedding(vocab_size, hidden_size)
        self.cell = cell
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.decoder.weight = self.encoder.weight  # tied (Press & Wolf; Inan et al.)
        nn.init.uniform_(self.encoder.weight, -EMBED_INIT, EMBED_INIT)
        nn.init.zeros_(self.decoder.bias)
        self._carry: dict[bool, object] = {}

    def init_hidden(self, batch: int):
        return self.cell.init_hidden(batch, self.encoder.weight.device)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Word vectors, with whole words dropped (``dropoute``) while training."""
        weight = self.encoder.weight
        mask = dropout_mask(weight[:, :1], self.dropoute, self.training)
        return F.embedding(x, weight if mask is None else weight * mask)

    def step(self, x: torch.Tensor, hidden=None, arch: RnnArch | RnnWeights | None = None):
        """Logits (``T * B x vocab``) of segment ``x`` from ``hidden`` (zeros when ``None``) and
        the hidden state after it, still attached to the graph."""
        if hidden is None:
            hidden = self.init_hidden(x.shape[1])
        emb = locked_dropout(self.embed(x), self.dropouti, self.training)
        out, hidden = self.cell(emb, hidden) if arch is None else self.cell(emb, hidden, arch)
        out = locked_dropout(out, self.dropout, self.training)
        return self.decoder(out.reshape(-1, self.hidden_size)), hidden

    def forward(self, x: torch.Tensor, arch: RnnArch | RnnWeights | None = None
                ) -> torch.Tensor:
        hidden = self._carry.get(self.training)
        first = hidden[0] if isinstance(hidden, tuple) else hidden
        if first is None or first.shape[-2] != x.shape[1]:  # a new batch size starts afresh
            hidden = None
        logits, hidden = self.step(x, hidden, arch)
        self._carry[self.training] = detach_state(hidden)
        return logits

    def reset_state(self) -> None:
        """Start the next segment of either mode from zeros (a new epoch, a new split)."""
        self._carry.clear()

    def load_shared(self, supernet: WordLM) -> WordLM:
        """Copy the supernet's weights of every parameter this model has (a child cell's edges
        are a subset of the supernet cell's, under the same names)."""
        shared = supernet.state_dict()
        self.load_state_dict({name: shared[name] for name in self.state_dict()})
        return self


def lstm_lm(vocab_size: int, hidden_size: int,
            dropouts: Mapping[str, float] | None = None) -> WordLM:
    """The LSTM baseline: the same language model with an LSTM as its cell."""
    return WordLM(LstmCell(hidden_size, hidden_size), vocab_size, hidden_size, dropouts)
