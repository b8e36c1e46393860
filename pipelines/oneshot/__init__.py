"""The one-shot room: a supernet's shared weights score architectures
(:class:`SupernetEvaluator`), and the weight-sharing search (ENAS, NAO-WS) trains them while a
controller from the strategy registry picks the pool (:class:`WeightSharingSearch`)."""

from .supernet_evaluator import SupernetEvaluator
from .weight_sharing import WeightSharingSearch

__all__ = ["SupernetEvaluator", "WeightSharingSearch"]
