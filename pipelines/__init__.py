"""Strategies, evaluators, the search loop, the store and the command line."""
