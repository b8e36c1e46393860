"""What NAO needs of a search space, declared here so that the core knows no concrete space.

Any object with these members will do (structural typing): ``search_spaces.base.SearchSpace``
has them all, and so can a space written elsewhere without subclassing anything of this package.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

Arch = Any  # a space's own hashable, immutable value; NAO only passes it back to the space
Tokens = tuple[int, ...]


@runtime_checkable
class TokenSpace(Protocol):
    """Architectures written as ``length`` tokens of ``vocab``, with a grammar NAO's decoder
    follows and the equivalences its augmentation and de-duplication use."""

    name: str  # saved with a model, so that loading it with another space is refused
    vocab: Sequence[str]
    length: int

    def valid_mask(self, prefix: Sequence[int]) -> np.ndarray:
        """Boolean mask over ``vocab``: the tokens allowed after ``prefix``."""
        ...

    def to_tokens(self, arch: Arch) -> Tokens:
        ...

    def from_tokens(self, tokens: Sequence[int]) -> Arch:
        """The architecture of ``tokens``; raises ``InvalidArchitectureError`` when the grammar
        or the space's own rules refuse them."""
        ...

    def canonical(self, arch: Arch) -> Hashable:
        """One key for all equivalent architectures."""
        ...

    def symmetries(self, arch: Arch) -> list[Arch]:
        """``arch`` first, then architectures equivalent to it."""
        ...


def prefix_masks(space: TokenSpace, rows: Sequence[Sequence[int]]) -> np.ndarray:
    """``(n, length, vocab)`` validity masks along each token sequence: position ``t`` holds
    the tokens allowed after ``row[:t]``. What a teacher-forced pass over known sequences masks
    with (NAO's decoder, the RL policy), so both follow the grammar exactly as sampling does."""
    return np.stack([np.stack([space.valid_mask(row[:t]) for t in range(len(row))])
                     for row in rows])
