"""The network options ``nao ws`` and ``nao train`` share (channels, layers, stem stride, batch
size): one object that checks them, says them in a run's config and comes from the command line,
so the list is written once. Each command has its own defaults (a search trains a smaller
network than a final training)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from nao.errors import ConfigError


@dataclass(frozen=True)
class NetworkOptions:
    """``channels`` of the first cells, ``layers`` normal cells per stage, the stem's stride
    (2 halves the images before the first cell) and the training minibatch size."""

    channels: int = 16
    layers: int = 1
    stem_stride: int = 1
    batch_size: int = 64

    def check(self) -> NetworkOptions:
        """Itself, or a :class:`ConfigError` naming the first bad option."""
        from search_spaces.enas_micro_net import STEM_STRIDES  # torch: here, not for --help

        for name in ("channels", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.stem_stride not in STEM_STRIDES:
            raise ConfigError(f"stem_stride must be one of {STEM_STRIDES}, got {self.stem_stride}")
        return self

    def to_dict(self) -> dict:
        """As a run's config and ``--json`` report them (and as keyword arguments)."""
        return asdict(self)

    @classmethod
    def from_args(cls, args) -> NetworkOptions:
        """From ``--channels``, ``--layers``, ``--stem-stride`` and ``--batch-size``."""
        return cls(args.channels, args.layers, args.stem_stride, args.batch_size)
