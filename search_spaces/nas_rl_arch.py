"""Architecture types of the ``nas-rl`` space (Zoph & Le 2017), apart from the space and its
network, as DARTS keeps ``genotypes.py``: nothing here needs torch.

A network is a stack of convolution layers. Each layer picks a filter height and width, a
number of filters and a stride, and, for every earlier layer, whether that layer's output feeds
it (Zoph & Le's anchor points). A layer reading no earlier layer reads the image.
"""

from __future__ import annotations

from typing import NamedTuple

# the choices of each layer decision, in token order (a stored architecture's tokens depend on it)
FILTER_SIZES = (1, 3, 5, 7)  # height and width are chosen separately
FILTER_COUNTS = (24, 36, 48, 64)
STRIDES = (1, 2)
LAYER_FIELDS = ("height", "width", "filters", "stride")
DEFAULT_LAYERS = 6
MAX_LAYERS = 20  # the skip bits grow with depth squared; a bound keeps `nas-rl:layers=N` sane


class Layer(NamedTuple):
    """One convolution; ``skips[j]`` says whether layer ``j`` (earlier) feeds it.

    A token the grammar refuses keeps its vocabulary name in its field (only
    ``SearchSpace._arch_from_tokens`` of unchecked tokens makes one), so the string form shows
    it and parsing that string points at its position.
    """

    height: int
    width: int
    filters: int
    stride: int
    skips: tuple[bool, ...] = ()

    @property
    def inputs(self) -> tuple[int, ...]:
        """The earlier layers this one reads, ascending (empty: it reads the image)."""
        return tuple(j for j, on in enumerate(self.skips) if on is True)


NasRlArch = tuple[Layer, ...]


def loose_ends(arch: NasRlArch) -> tuple[int, ...]:
    """The layers that feed the classifier: the last one and every one no later layer reads."""
    read = {i for layer in arch for i in layer.inputs}
    last = len(arch) - 1
    return tuple(i for i in range(len(arch)) if i == last or i not in read)
