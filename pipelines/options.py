"""Merging option dictionaries (presets, defaults, ``--set``)."""

from __future__ import annotations


def deep_merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``; nested dicts merge key by key instead of being replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
