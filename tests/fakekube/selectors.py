"""Label and field selectors, in the query-string syntax of `labelSelector` and `fieldSelector`."""

from __future__ import annotations

import re
from typing import Callable

from .errors import bad_request

Matcher = Callable[[dict], bool]

# `a in (x, y)` / `a notin (x)`, then `a=b`, `a==b`, `a!=b`, then `a` / `!a`.
_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside the parentheses of a set term."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[dict], bool]:
    if m := _SET.match(term):
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(term):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(term):
        negate, key = m.groups()
        return lambda labels: (key in labels) != bool(negate)
    raise bad_request(f"unable to parse requirement: {term!r}")


def label_selector(selector: str | None) -> Matcher:
    terms = [_label_term(t) for t in _split_terms(selector or "")]
    return lambda obj: all(t(obj.get("metadata", {}).get("labels") or {}) for t in terms)


def _field_value(obj: dict, path: str) -> str:
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def field_selector(selector: str | None) -> Matcher:
    """Any dotted path works (`metadata.name`, `status.phase`, `involvedObject.name`, `type`);
    the real server allows only a per-kind list, but no client of this fake depends on the 400."""
    terms = []
    for term in _split_terms(selector or ""):
        m = _EQ.match(term)
        if not m:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        terms.append((path, op == "!=", value))
    return lambda obj: all((_field_value(obj, p) == v) != neg for p, neg, v in terms)
