"""The one-shot room: a supernet's shared weights score architectures
(:class:`SupernetEvaluator`); :mod:`.shared_training` holds the pieces every one-shot method
trains with (:class:`SharedWeights`: one epoch given a per-minibatch choice of architecture or op
weights; scoring; the final pick); the weight-sharing search (ENAS, NAO-WS) drives them while a
controller from the strategy registry picks the pool (:class:`WeightSharingSearch`); the relaxed
controllers (DARTS, SNAS, SF, RELAX, RAM) learn architecture parameters by gradient instead
(:class:`RelaxedSearch` on :class:`ArchParams` and :mod:`.gradient_estimators`)."""

from .arch_params import ArchParams
from .relaxed_search import RelaxedSearch
from .shared_training import SharedWeights
from .supernet_evaluator import SupernetEvaluator
from .weight_sharing import WeightSharingSearch

__all__ = ["ArchParams", "RelaxedSearch", "SharedWeights", "SupernetEvaluator",
           "WeightSharingSearch"]
