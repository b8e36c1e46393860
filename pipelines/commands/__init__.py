"""One module per subcommand, each with the ``run(args)`` it does; the options of each, with
``register(subparsers)``, are in :mod:`.parsers`, which imports none of these modules (they
import torch and the rest only when a command runs)."""

from .parsers import COMMANDS

__all__ = ["COMMANDS"]
