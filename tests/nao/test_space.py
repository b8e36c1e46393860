"""nao.space.prefix_masks: the masks of a teacher-forced pass over known sequences."""

from __future__ import annotations

import numpy as np

from nao.space import prefix_masks


class Rising:
    """Three tokens, each at least the one before: the mask depends on the prefix."""

    name, vocab, length = "rising", ("a", "b", "c"), 3

    def valid_mask(self, prefix):
        low = prefix[-1] if prefix else 0
        return np.arange(len(self.vocab)) >= low


def test_position_t_masks_what_may_follow_the_first_t_tokens():
    masks = prefix_masks(Rising(), [[0, 1, 2], [2, 2, 2]])
    assert masks.shape == (2, 3, 3) and masks.dtype == bool
    assert masks[0].tolist() == [[True, True, True], [True, True, True], [False, True, True]]
    assert masks[1].tolist() == [[True, True, True], [False, False, True], [False, False, True]]
