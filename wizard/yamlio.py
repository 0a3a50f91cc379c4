"""YAML in and out. Every file the wizard writes is dumped from data with PyYAML's safe dumper,
never by pasting answers into text, so any accepted value survives the trip unchanged.

PyYAML reads YAML 1.1 its own way; helm and kubectl read with Go (yaml.v2 under sigs.k8s.io/yaml),
which takes `y`, `n`, `1e3`, `0o17` or `0815` for booleans and numbers where PyYAML sees strings.
So a string is written plain only when no resolver we know of could read it as another type.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    pass


# Booleans and nulls of YAML 1.1 (which Go's yaml.v2 follows) and 1.2, in any letter case.
_WORDS = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<", "="))
# Numbers by any of: the YAML 1.1 type regexes (base 2/8/16/60, and floats like `1.2.3` that its
# float regex allows), the 1.2 core schema (`0o17`, `.inf`), Go's yaml.v2/v3 (underscores dropped,
# then strconv: `0815`, `1e3`, `0x1F`, `-0b1`, any digit string); plus every date-like start.
_NUMBER = re.compile(r"""[-+]?(?:
      0[xXoObB][0-9a-fA-F_]*
    | [0-9][0-9_]*(?::[0-5]?[0-9])*(?:\.[0-9_.]*)?(?:[eE][-+]?[0-9_]+)?
    | \.[0-9_.]*(?:[eE][-+]?[0-9_]+)?
    | \.(?:inf|nan)
    )""", re.VERBOSE | re.IGNORECASE)
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


def misread_as_other_type(text: str) -> bool:
    """True when some YAML resolver (PyYAML, YAML 1.1 or 1.2, Go's yaml.v2 or v3) would read this
    string, written plain, as a boolean, null, number, date or merge key."""
    return (text.lower() in _WORDS or _NUMBER.fullmatch(text) is not None
            or _DATE.match(text) is not None)


# Where Go's YAML writer (helm's toYaml) certainly quotes a string: it resolves to another type for
# Go. Read from go.yaml.in/yaml/v2 resolve.go and encode.go; kept narrow on purpose (short numbers,
# valid dates), since a string outside it counts as written plain.
_GO_WORDS = frozenset("y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
                      "~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF".split())
_GO_INT = re.compile(r"[-+]?(?:[0-9]{1,18}|0[xX][0-9a-fA-F]{1,15}|0[bB][01]{1,62}|0[oO][0-7]{1,20})")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]{1,2})?")
_GO_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_GO_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:([Tt])|[ ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})"
                           r"(?:\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})?)?")
_RESOLVER = yaml.resolver.Resolver()


def _go_quotes(text: str) -> bool:
    if text in _GO_WORDS or _GO_BASE60.fullmatch(text):
        return True
    if text.startswith("."):
        return re.fullmatch(r"\.[0-9]+(?:[eE][-+]?[0-9]{1,2})?", text) is not None
    if not text or text[0] not in "+-0123456789":
        return False
    stamp = _GO_TIMESTAMP.fullmatch(text)
    if stamp:
        import datetime

        year, month, day, t_form, hour, minute, second, zone = stamp.groups()
        if hour is not None and (zone is None) == bool(t_form):  # T needs a zone, a space forbids one
            return False
        try:
            datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
            return True
        except ValueError:
            return False
    plain = text.replace("_", "")
    return _GO_INT.fullmatch(plain) is not None or (_GO_FLOAT.fullmatch(plain) is not None and len(plain) < 200)


def read_back_as(text: str) -> str | None:
    """The type PyYAML reads `text` as where Go's writer leaves it plain, or None if it stays text.
    That is the round trip of every hub setting: helm writes the values with Go's YAML, and the
    hub (z2jh's jupyterhub_config.py) reads them back with PyYAML, which takes `=`, `<<`, `0b_` or
    `2026-02-30` for something else (or fails on them)."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == "tag:yaml.org,2002:str" or _go_quotes(text):
        return None
    return tag.rsplit(":", 1)[1]


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (scripts, Python config) as a literal block, so the files stay readable;
    # PyYAML falls back to a quoted style by itself where a block cannot hold the text exactly.
    if "\n" in value:
        style = "|"
    elif value == "" or misread_as_other_type(value):
        style = "'"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dumps(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100, indent=2)


def dumps_all(documents: list[Any]) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=100, indent=2, explicit_start=True)


# --- reading: files a person may have edited, or an attacker written ---------------------------

# How many nodes aliases may add in all once expanded: plenty for `allowed_users: *admins`, far
# too few for a "billion laughs" document, which is refused before a single object is built.
ALIAS_EXPANSION_LIMIT = 10_000


class YAMLShapeError(yaml.YAMLError):
    """A document PyYAML would read, refused by us: a key twice, or aliases that expand too far.
    Its message is ours and names lines and keys, never a value."""


class _StrictLoader(_Loader):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):
        # A key twice is a mistake (two `client_secret:` lines): YAML forbids it, PyYAML keeps the last.
        seen: dict = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: PyYAML itself refuses it below
            if first is not key_node:
                raise YAMLShapeError(f"the key {_key_text(key)} appears twice, on line {first.start_mark.line + 1} "
                                     f"and on line {key_node.start_mark.line + 1}; keep one")
        return super().construct_mapping(node, deep=deep)


def _key_text(key: Any) -> str:
    text = repr(key) if not isinstance(key, str) else key
    return text if len(text) <= 40 else text[:37] + "..."


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than ALIAS_EXPANSION_LIMIT extra nodes, or
    refer to themselves. Linear in the nodes as written: expanded sizes are summed, not built."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            open_nodes.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise YAMLShapeError(f"an alias on line {node.start_mark.line + 1} refers to a node that contains it")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    added = sizes[id(root)] - len(sizes)
    if added > ALIAS_EXPANSION_LIMIT:
        raise YAMLShapeError(f"its aliases (*name) expand to {added:,} more values, over the limit of "
                             f"{ALIAS_EXPANSION_LIMIT:,}; write the values out instead")


def _documents(text: str):
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            _check_expansion(node)
            yield loader.construct_document(node)
    finally:
        loader.dispose()


def loads(text: str) -> Any:
    """One document (an empty text: None), with duplicate keys and alias bombs refused."""
    documents = _documents(text)
    first = next(documents, None)
    if next(documents, None) is not None:
        raise YAMLShapeError("it holds more than one document (a line `---` in the middle); keep one")
    return first


def loads_all(text: str) -> list[Any]:
    return [doc for doc in _documents(text) if doc is not None]


YAMLError = yaml.YAMLError
