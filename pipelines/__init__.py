"""Everything around the optimizer, one subpackage per job: ``search`` (loop, store, table
evaluator, benchmark, predictor evaluation), ``oneshot`` (supernet scoring, weight-sharing
search), ``training`` (data, runtime, run directories, final training), ``strategies``, ``viz``,
and the command line (``cli.py``, ``commands/``). docs/architecture.md draws who imports whom."""
