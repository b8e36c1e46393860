"""One module per subcommand, each with ``register(subparsers)``."""

from . import benchmark, predictor_eval, search, show, train, ws

COMMANDS = [search, predictor_eval, benchmark, ws, train, show]
