"""Decoding of the protobuf request bodies real clients send for a few core kinds.

client-go's typed clients send `application/vnd.kubernetes.protobuf` bodies whatever the server
advertises: `kubectl create namespace|secret|configmap` and `kubectl auth can-i` do, and so does
helm's release storage (Secrets). Responses are always JSON, which those clients accept. The kinds decoded are the ones
they write (and the DeleteOptions of their deletes); any other kind is answered 415 rather than
guessed at.

Wire format: the 4 magic bytes `k8s\\0`, then a `runtime.Unknown` message whose field 1 is the
TypeMeta (apiVersion, kind) and field 2 the object's own message (generated.proto field numbers).
"""

from __future__ import annotations

import base64
import datetime

from .errors import ApiError

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints as int, length-delimited fields as bytes."""
    out, i = [], 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire in (1, 5):  # fixed64 / fixed32: no field decoded here uses them
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _map_entry(raw: bytes, binary: bool) -> tuple[str, str]:
    entry = dict(_fields(raw))
    value = entry.get(2, b"")
    return entry.get(1, b"").decode(), (base64.b64encode(value).decode() if binary else value.decode())


def _time(raw: bytes) -> str:
    seconds = dict(_fields(raw)).get(1, 0)
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(raw: bytes) -> dict:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    ref = {}
    for n, v in _fields(raw):
        if n in names:
            ref[names[n]] = v.decode()
        elif n in (6, 7):
            ref["controller" if n == 6 else "blockOwnerDeletion"] = bool(v)
    return ref


def _object_meta(raw: bytes) -> dict:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict = {}
    # Go's protobuf encoder writes empty strings and zeros that JSON would omit: skip them.
    for n, v in _fields(raw):
        if not v:
            continue
        if n in strings:
            meta[strings[n]] = v.decode()
        elif n == 7:
            meta["generation"] = v
        elif n == 8:
            meta["creationTimestamp"] = _time(v)
        elif n in (11, 12):
            k, val = _map_entry(v, binary=False)
            meta.setdefault("labels" if n == 11 else "annotations", {})[k] = val
        elif n == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(v))
        elif n == 14:
            meta.setdefault("finalizers", []).append(v.decode())
    return meta


def _secret(fields, obj: dict) -> None:
    for n, v in fields:
        if n in (2, 4):
            k, val = _map_entry(v, binary=n == 2)
            obj.setdefault("data" if n == 2 else "stringData", {})[k] = val
        elif n == 3 and v:
            obj["type"] = v.decode()
        elif n == 5 and v:
            obj["immutable"] = True


def _config_map(fields, obj: dict) -> None:
    for n, v in fields:
        if n in (2, 3):
            k, val = _map_entry(v, binary=n == 3)
            obj.setdefault("data" if n == 2 else "binaryData", {})[k] = val
        elif n == 4 and v:
            obj["immutable"] = True


def _namespace(fields, obj: dict) -> None:
    for n, v in fields:
        finalizers = [f.decode() for fn, f in _fields(v) if fn == 1] if n == 2 else []
        if finalizers:
            obj["spec"] = {"finalizers": finalizers}


def _delete_options(fields, obj: dict) -> None:
    for n, v in fields:
        if n == 4 and v:
            obj["propagationPolicy"] = v.decode()
        elif n == 5:
            obj.setdefault("dryRun", []).append(v.decode())


def _strings(raw: bytes, names: dict[int, str]) -> dict:
    return {names[n]: v.decode() for n, v in _fields(raw) if n in names and v}


def _access_review(fields, obj: dict) -> None:
    """SelfSubjectAccessReview, as `kubectl auth can-i` sends it."""
    for n, v in fields:
        if n == 2:
            spec = dict(_fields(v))
            obj["spec"] = {}
            if 1 in spec:
                obj["spec"]["resourceAttributes"] = _strings(spec[1], {
                    1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                    6: "subresource", 7: "name"})
            if 2 in spec:
                obj["spec"]["nonResourceAttributes"] = _strings(spec[2], {1: "path", 2: "verb"})


_DECODERS = {("v1", "Secret"): _secret, ("v1", "ConfigMap"): _config_map,
             ("v1", "Namespace"): _namespace,
             ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _access_review,
             # DELETE bodies (helm's release Secrets); sent under the resource's group version.
             ("", "DeleteOptions"): _delete_options}


def decode(body: bytes) -> dict:
    if not body.startswith(MAGIC):
        raise ValueError("protobuf body without the k8s magic prefix")
    unknown = dict(_fields(body[len(MAGIC):]))
    type_meta = dict(_fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    decoder = _DECODERS.get(("", kind) if kind == "DeleteOptions" else (api_version, kind))
    if decoder is None:
        raise ApiError(415, "UnsupportedMediaType",
                       f"this fake API server decodes protobuf only for {sorted(k for _, k in _DECODERS)}; "
                       f"send {api_version} {kind} as application/json")
    fields = _fields(unknown.get(2, b""))
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for n, v in fields:
        if n == 1:
            obj["metadata"] = _object_meta(v)
    decoder(fields, obj)
    return obj
