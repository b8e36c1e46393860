"""Neural Architecture Optimization: encoder, predictor, decoder and the NAO estimator.

The core of the package: it knows no concrete search space (only the protocol of
:mod:`nao.space`), and search spaces and pipelines import it, never the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError, DataError, InvalidArchitectureError, NaoError
from .space import TokenSpace

if TYPE_CHECKING:
    from .estimator import NAO


def __getattr__(name: str):
    """``nao.NAO`` on first use: the estimator imports torch, which the errors and the
    validation (all a command line needs before it runs) must not wait for."""
    if name == "NAO":
        from .estimator import NAO

        return NAO
    raise AttributeError(f"module 'nao' has no attribute {name!r}")

__all__ = ["NAO", "TokenSpace", "NaoError", "ConfigError", "DataError",
           "InvalidArchitectureError"]
