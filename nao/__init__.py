"""Neural Architecture Optimization: encoder, predictor, decoder and the NAO estimator."""

from .errors import ConfigError, DataError, InvalidArchitectureError, NaoError

__all__ = ["NAO", "NaoError", "ConfigError", "DataError", "InvalidArchitectureError"]


def __getattr__(name: str):
    if name == "NAO":  # imported lazily so `search_spaces` can use the errors without torch
        from .estimator import NAO

        return NAO
    raise AttributeError(name)
