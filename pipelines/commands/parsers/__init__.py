"""The options of every subcommand: one module each, with ``register(subparsers)``.

They are light on purpose: building the whole parser imports neither torch, scipy nor
scikit-learn, nor the commands' own modules, so ``nao --version``, every ``--help`` and a bad
option answer at once. A parser's ``run`` (:func:`..common.deferred`) makes the checks that need
neither torch nor data, then imports its command's module, ``pipelines.commands.<name>``, and
runs it. tests/pipelines/commands/test_cli_startup.py pins both.
"""

from . import benchmark, predictor_eval, search, show, train, ws

COMMANDS = [search, predictor_eval, benchmark, ws, train, show]
