"""``nao-cnn``: NAO's convolutional cell space without weight sharing (Luo et al. 2018, appendix).

The enas-micro cell grammar (a normal and a reduction cell, ``nodes`` = 5 nodes each, every node
two branches of an input among the two previous cells and the earlier nodes and an op) over the
11 ops NAO searches when each child trains from scratch. Only the op table differs, so this is
:class:`EnasMicroSpace` with other ops and a child-sized default network; there is no supernet.

Options: ``nao-cnn:nodes=N,channels=C,layers=L``. ``channels`` and ``layers`` (normal cells per
stage) size the children that ``nao search --data`` trains (``child_channels`` and
``child_layers``, as every buildable space declares them); ``nao train --channels/--layers`` set
their own. The defaults (8 channels, 1 normal cell per
stage) keep a child to seconds per epoch on a CPU with digits.
"""

from __future__ import annotations

import re

from nao.errors import ConfigError
from nao.validation import shown

from .base import Buildable
from .enas_micro import EnasMicroSpace
from .enas_micro_arch import N_NODES

FAMILY = "nao-cnn"
# token order of the ops (a saved architecture's tokens depend on it); NAO's 11 ops of its CNN
# cell, in the order the paper's appendix lists NASNet's, each built by search_spaces.cnn_ops.OPS
NAO_OPS = (
    "identity", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "conv_3x3",
    "conv_1x3_3x1", "conv_1x7_7x1", "max_pool_2x2", "avg_pool_2x2", "dil_sep_conv_3x3",
)
DEFAULTS = {"nodes": N_NODES, "channels": 8, "layers": 1}
MAX_NODES = 10
# explicit bounds on the child size, so no name asks for a network of 10**9 channels: NAO's
# largest CIFAR child has 128 channels and 6 normal cells per stage
MAX_CHANNELS = 512
MAX_LAYERS = 32
BOUNDS = {"nodes": (2, MAX_NODES), "channels": (1, MAX_CHANNELS), "layers": (1, MAX_LAYERS)}
OPTIONS_HELP = (f"options are nodes=N (2-{MAX_NODES}, default {N_NODES}), channels=C "
                f"(1-{MAX_CHANNELS}) and layers=L (1-{MAX_LAYERS}) (child size), e.g. "
                "nao-cnn:nodes=5,channels=8,layers=1")


class NaoCnnSpace(EnasMicroSpace):
    """``nao-cnn``: 11 ops, ``nodes`` nodes per cell, normal + reduction cell."""

    has_supernet = False  # its children train from scratch
    mixed_path = False  # so no relaxed path either
    relaxation = Buildable.relaxation  # the refusal, not enas-micro's relaxation

    def __init__(self, nodes: int = N_NODES, channels: int = DEFAULTS["channels"],
                 layers: int = DEFAULTS["layers"]):
        given = {"nodes": nodes, "channels": channels, "layers": layers}
        for key, value in given.items():
            low, high = BOUNDS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{FAMILY}: {key}={shown(value)}: {key} must be a whole number "
                                  f"from {low} to {high}; {OPTIONS_HELP}")
        extra = ",".join(f"{k}={v}" for k, v in given.items() if v != DEFAULTS[k])
        super().__init__(ops=NAO_OPS, n_nodes=nodes, name=f"{FAMILY}:{extra}" if extra else FAMILY)
        self.channels = self.child_channels = channels
        self.layers = self.child_layers = layers

    def build_supernet(self, channels: int, num_classes: int, layers: int, in_channels: int,
                       stem_stride: int = 1):
        raise ConfigError(f"{self.name} has no supernet: its children train from scratch; "
                          f"search it with nao search --space {self.name} --data ... "
                          "(nao ws is for weight-sharing spaces, e.g. enas-micro)")



def parse_options(arg: str | None) -> NaoCnnSpace:
    """``nao-cnn`` or ``nao-cnn:nodes=N,channels=C,layers=L`` (any of them, any order)."""
    if arg is None:
        return NaoCnnSpace()
    values: dict[str, int] = {}
    for piece in arg.split(","):
        key, eq, value = (part.strip() for part in piece.partition("="))
        if not eq or key not in DEFAULTS or key in values:
            what = "is given twice" if key in values else "is not an option"
            raise ConfigError(f"{FAMILY}: {shown(piece.strip())} {what}; {OPTIONS_HELP}")
        try:
            if not re.fullmatch(r"-?[0-9]+", value):  # int() would take '1_0', '+5', '٣'
                raise ValueError(value)
            values[key] = int(value)
        except ValueError:  # also a number too long for int()
            raise ConfigError(f"{FAMILY}: {key}={shown(value)} is not a whole number; "
                              f"{OPTIONS_HELP}") from None
    return NaoCnnSpace(**values)
