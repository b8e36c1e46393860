"""One module per subcommand, each with ``register(subparsers)``."""

from . import benchmark, predictor_eval, search

COMMANDS = [search, predictor_eval, benchmark]
