"""The one-shot room: a supernet's shared weights score architectures
(:class:`SupernetEvaluator`); :mod:`.shared_training` holds the pieces every one-shot method
trains with (:class:`SharedWeights`: one epoch given a per-minibatch choice of architecture or op
weights; scoring; the final pick); the weight-sharing search (ENAS, NAO-WS) drives them while a
controller from the strategy registry picks the pool (:class:`WeightSharingSearch`); the relaxed
controllers (DARTS, SNAS, SF, RELAX, RAM) learn architecture parameters by gradient instead
(:class:`RelaxedSearch` on :class:`ArchParams` and :mod:`.gradient_estimators`). Both are
:class:`OneShotSearch` subclasses: one ``fit`` (check, epochs, checkpoint, pick) over a family's
:class:`OneShotRun`. :mod:`.methods` is the table of them all that ``nao ws --controller`` reads.

The classes are imported on first use (PEP 562), so reading :mod:`.methods` (the command
line's help) imports no torch."""

from __future__ import annotations

from importlib import import_module

_WHERE = {"ArchParams": ".arch_params", "OneShotRun": ".one_shot_search",
          "OneShotSearch": ".one_shot_search", "RelaxedSearch": ".relaxed_search",
          "SharedWeights": ".shared_training", "SupernetEvaluator": ".supernet_evaluator",
          "WeightSharingSearch": ".weight_sharing"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
