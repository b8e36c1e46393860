"""One module per subcommand, each with ``register(subparsers)``."""

from . import predictor_eval, search

COMMANDS = [search, predictor_eval]
