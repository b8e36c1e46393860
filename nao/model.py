"""The three networks of NAO (Luo et al. 2018) and their joint module.

The encoder's per-token outputs are unit-normalized; their mean, normalized again, is the
architecture embedding the predictor reads and the decoder starts from. The decoder attends over
the per-token outputs, so the gradient step of :meth:`NAOModel.improve` is taken on those.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    """Token embedding + LSTM; returns unit-length per-token states and the pooled embedding."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, layers: int,
                 dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_size, hidden_size, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(self.dropout(self.embedding(tokens)))
        out = F.normalize(out, p=2, dim=-1)
        return out, pool(out)


def pool(outputs: torch.Tensor) -> torch.Tensor:
    """Mean over positions, normalized to unit length: the architecture embedding."""
    return F.normalize(outputs.mean(dim=1), p=2, dim=-1)


class Predictor(nn.Module):
    """MLP on the embedding with a sigmoid output (targets are min-max scaled into [0, 1])."""

    def __init__(self, hidden_size: int, mlp_layers: int, mlp_hidden_size: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = hidden_size
        for _ in range(mlp_layers):
            layers += [nn.Linear(width, mlp_hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = mlp_hidden_size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(embedding)).squeeze(-1)


class Decoder(nn.Module):
    """LSTM with dot-product attention over the encoder states, masked to valid tokens.

    Token ``vocab_size`` is the start symbol. Masks come from the search space; the decoder holds
    no grammar of its own.
    """

    def __init__(self, vocab_size: int, hidden_size: int, layers: int, dropout: float):
        super().__init__()
        self.vocab_size = vocab_size
        self.layers = layers
        self.embedding = nn.Embedding(vocab_size + 1, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, hidden_size, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = embedding.unsqueeze(0).repeat(self.layers, 1, 1).contiguous()
        return h, h.clone()

    def step(self, inputs: torch.Tensor, state, encoder_outputs: torch.Tensor,
             mask: torch.Tensor):
        """Log-probabilities for the positions of ``inputs`` (B x T) given ``state``."""
        x = self.dropout(self.embedding(inputs))
        out, state = self.lstm(x, state)
        attn = torch.softmax(out @ encoder_outputs.transpose(1, 2), dim=-1)
        context = attn @ encoder_outputs
        hidden = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        logits = self.out(self.dropout(hidden)).masked_fill(~mask, float("-inf"))
        return torch.log_softmax(logits, dim=-1), state

    def forward(self, targets: torch.Tensor, encoder_outputs: torch.Tensor,
                embedding: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-probabilities (B x L x V) of ``targets``."""
        start = torch.full_like(targets[:, :1], self.vocab_size)
        inputs = torch.cat([start, targets[:, :-1]], dim=1)
        log_probs, _ = self.step(inputs, self.initial_state(embedding), encoder_outputs, masks)
        return log_probs


class NAOModel(nn.Module):
    """Encoder, predictor and decoder trained jointly."""

    def __init__(self, vocab_size: int, embedding_size: int = 48, hidden_size: int = 96,
                 encoder_layers: int = 1, decoder_layers: int = 1, mlp_layers: int = 3,
                 mlp_hidden_size: int = 200, dropout: float = 0.1):
        super().__init__()
        self.encoder = Encoder(vocab_size, embedding_size, hidden_size, encoder_layers, dropout)
        self.predictor = Predictor(hidden_size, mlp_layers, mlp_hidden_size, dropout)
        self.decoder = Decoder(vocab_size, hidden_size, decoder_layers, dropout)

    def forward(self, tokens: torch.Tensor, masks: torch.Tensor):
        outputs, embedding = self.encoder(tokens)
        prediction = self.predictor(embedding)
        log_probs = self.decoder(tokens, outputs, embedding, masks)
        return prediction, log_probs

    def gradient(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-token encoder outputs of ``tokens`` and the predictor's gradient with respect
        to them: what every step size of :meth:`improve` starts from, so computed once."""
        with torch.enable_grad():  # also when the caller is inside torch.no_grad()
            outputs, _ = self.encoder(tokens)
            outputs = outputs.detach().requires_grad_(True)
            prediction = self.predictor(pool(outputs))
            (grad,) = torch.autograd.grad(prediction.sum(), outputs)
        return outputs.detach(), grad

    @staticmethod
    def move(outputs: torch.Tensor, grad: torch.Tensor,
             step_size: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``outputs`` moved ``step_size`` along ``grad``, re-normalized, and their pooled
        embedding."""
        moved = F.normalize(outputs + step_size * grad, p=2, dim=-1)
        return moved, pool(moved)

    def improve(self, tokens: torch.Tensor, step_size: float):
        """Move the per-token encoder outputs along the predictor's gradient.

        Returns the moved (re-normalized) outputs, their pooled embedding and the prediction
        for the moved embedding.
        """
        moved, moved_embedding = self.move(*self.gradient(tokens), step_size)
        with torch.no_grad():
            return moved, moved_embedding, self.predictor(moved_embedding)
