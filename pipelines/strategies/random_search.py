"""Random search: the control every NAS method must beat."""

from __future__ import annotations

from nao.validation import check_int
from search_spaces.base import Arch, SearchSpace

from .base import Strategy


class RandomSearch(Strategy):
    """Uniform samples from the space's grammar, never repeating an architecture."""

    def __init__(self, space: SearchSpace, random_state: int | None = None, batch_size: int = 10):
        super().__init__(space, random_state)
        self.ask_size = check_int("random strategy", "batch_size", batch_size, 1)

    def ask(self, n: int) -> list[Arch]:
        return self.sample_unseen(n)
