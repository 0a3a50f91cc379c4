"""Helm's value merge, as the chart schemas see the result: maps merge key by key, lists and scalars
are replaced, a null deletes the key (shared/upstream/SOURCES.md)."""

from __future__ import annotations

import copy


def merge(base: dict, *overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for override in overrides:
        _merge_into(result, override)
    return result


def _merge_into(target: dict, override: dict) -> None:
    for key, value in override.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
