"""Neural Architecture Optimization: encoder, predictor, decoder and the NAO estimator.

The core of the package: it knows no concrete search space (only the protocol of
:mod:`nao.space`), and search spaces and pipelines import it, never the other way round.
"""

from .errors import ConfigError, DataError, InvalidArchitectureError, NaoError
from .estimator import NAO
from .space import TokenSpace

__all__ = ["NAO", "TokenSpace", "NaoError", "ConfigError", "DataError",
           "InvalidArchitectureError"]
