"""The patch formats the API server accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
and an approximation of strategic merge patch.

Strategic merge here is merge patch plus the parts kubectl and helm rely on: lists of objects
that carry a merge key (containers, env, ports, volumes, ...) are merged item by item, and the
`$patch`, `$setElementOrder/`, `$retainKeys` and `$deleteFromPrimitiveList/` directives are
understood. The real merge keys come from Go struct tags per field; guessing them from the items
themselves (`name`, then the port fields) covers the kinds this project deploys.
"""

from __future__ import annotations

import copy

from .errors import bad_request

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE, JSON_PATCH, STRATEGIC, APPLY)

# Tried in order; a list is merged by the first key that every item on both sides carries.
_MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type")


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue  # ordering hints and key retention do not change the merged content here
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field, []) if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value)
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_key(items: list) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _MERGE_KEYS:
        if all(key in i for i in items):
            return key
    return None


def _merge_list(current, patch: list) -> list:
    if not isinstance(current, list):
        current = []
    key = _merge_key(current + patch)
    if key is None:
        return [strategic_merge(None, v) if isinstance(v, dict) else copy.deepcopy(v) for v in patch]
    result = copy.deepcopy(current)
    for item in patch:
        index = next((i for i, c in enumerate(result) if c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge(None, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts: list[str]):
    for p in parts:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc


def json_patch(target, ops: list):
    doc = copy.deepcopy(target)
    for op in ops:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise bad_request(f"the server rejected our request due to an error in our request: "
                              f"{op.get('op')} {op.get('path')}: {e!r}") from None
    return doc


def _apply_op(doc, op: dict):
    kind = op["op"]
    parts = _pointer(op["path"])
    if kind == "test":
        if _walk(doc, parts) != op["value"]:
            raise ValueError("test failed")
        return doc
    if kind in ("move", "copy"):
        src = _pointer(op["from"])
        value = copy.deepcopy(_walk(doc, src))
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        if kind == "remove":
            raise ValueError("cannot remove the document root")
        return copy.deepcopy(op["value"])
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if kind == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif kind == "replace":
        if isinstance(parent, list):
            parent[int(last)] = copy.deepcopy(op["value"])
        else:
            parent[last]  # raises KeyError: replace needs an existing member (RFC 6902 4.3)
            parent[last] = copy.deepcopy(op["value"])
    elif kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
        else:
            parent[last] = copy.deepcopy(op["value"])
    else:
        raise ValueError(f"unknown op {kind!r}")
    return doc


def apply_patch(content_type: str, target: dict, patch) -> dict:
    """Patch `target` (an existing object) with a decoded patch body."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a list of operations")
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("the patch must be an object")
    if content_type == MERGE:
        return merge_patch(target, patch)
    # Server-side apply is approximated as a strategic merge of the applied configuration: it
    # sets every field it names, but (without managedFields) never removes fields it dropped.
    return strategic_merge(target, patch)
