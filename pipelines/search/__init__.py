"""The search room: the ask -> evaluate -> record -> tell loop, the SQLite store, the table
evaluator, many searches side by side (``benchmark``) and predictor evaluation.

The loop's public names are here, so ``from pipelines.search import run_search, TableEvaluator``
works; ``benchmark`` and ``predictor_eval`` are imported by their module path.
"""

from .evaluators import Evaluation, Evaluator, TableEvaluator
from .loop import SearchResult, SearchStalledError, pick_record, result_from_store, run_search
from .store import Store

__all__ = ["Evaluation", "Evaluator", "TableEvaluator", "SearchResult", "SearchStalledError",
           "pick_record", "result_from_store", "run_search", "Store"]
