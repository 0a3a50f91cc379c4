"""HTTP request handling: routing of the Kubernetes REST paths, request bodies, and watch streams."""

from __future__ import annotations

import json
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import yaml

from . import discovery, errors
from .errors import ApiError
from .patch import APPLY, PATCH_TYPES
from .protobuf import PROTOBUF, decode as decode_protobuf
from .resources import Kind
from .selectors import field_selector, label_selector
from .store import Event

if TYPE_CHECKING:
    from .server import FakeKube

# An API server ends a watch after a randomised --min-request-timeout (30-60 min) when the client
# sets no timeoutSeconds; tests never run that long, so one fixed value is enough.
DEFAULT_WATCH_SECONDS = 1800

# What client-go asks for, and (without the `@`, which is no valid media type) what servers answer.
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
OPENAPI_V2_PROTOBUF_ANSWER = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watch streams, as client-go expects

    @property
    def fake(self) -> FakeKube:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # tests read `fake.requests` instead of a log on stderr

    def setup(self):
        super().setup()
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self):
        self.server.connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # ---- plumbing ------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        self.fake.record(method, url.path, query, content_type)
        try:
            self.fake.faults.apply(method, url.path, self.server.stopping)  # type: ignore[attr-defined]
            self._route(method, url.path.rstrip("/") or "/", query, content_type, raw)
        except ApiError as e:
            self._send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake: answer as the API server would
            traceback.print_exc()
            self._send_json(500, ApiError(500, "InternalError", f"fake API server error: {e!r}").status())
            self.close_connection = True

    def _send_json(self, code: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_text(self, text: str) -> None:
        self._send_bytes("text/plain; charset=utf-8", text.encode())

    def _send_bytes(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _decode_body(self, content_type: str, raw: bytes):
        if not raw:
            return {}
        try:
            if content_type == PROTOBUF:
                return decode_protobuf(raw)
            if content_type in ("application/yaml", APPLY):
                return yaml.safe_load(raw)
            if content_type == "application/json" or content_type in PATCH_TYPES or not content_type:
                return json.loads(raw)
        except (ValueError, IndexError, yaml.YAMLError) as e:
            raise errors.bad_request(f"the body of the request was in an unknown format: {e}") from None
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                                                    f"format - accepted media types include: "
                                                    f"application/json, application/yaml, {PROTOBUF}")

    # ---- routing -------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict, content_type: str, raw: bytes) -> None:
        registry = self.fake.registry
        parts = path.strip("/").split("/")
        if method == "GET":
            doc = self._fixed_document(path, parts)
            if doc is discovery.OPENAPI_V2 and OPENAPI_V2_PROTOBUF in (self.headers.get("Accept") or ""):
                # An empty message is a valid, empty protobuf Document: kubectl then finds no
                # schema for any kind and skips client-side validation, as it does for unknown kinds.
                return self._send_bytes(OPENAPI_V2_PROTOBUF_ANSWER, b"")
            if doc is not None:
                return self._send_text(doc) if isinstance(doc, str) else self._send_json(200, doc)
        if parts[0] == "api" and len(parts) > 2 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found_path()
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            maybe = registry.lookup(group, version, rest[2])
            if maybe is not None and maybe.namespaced:
                ns, rest = rest[1], rest[2:]
        kind = registry.lookup(group, version, rest[0])
        if kind is None or len(rest) > 3 or (ns is None and kind.namespaced and method != "GET"
                                             and not (method == "DELETE" and len(rest) == 1)):
            raise _not_found_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in kind.subresources:
            raise _not_found_path()
        self._resource(method, kind, ns, name, sub, query, content_type, raw)

    def _fixed_document(self, path: str, parts: list[str]):
        registry = self.fake.registry
        if path in ("/healthz", "/livez", "/readyz"):
            return "ok"
        if path == "/version":
            return discovery.SERVER_VERSION
        if path == "/api":
            return discovery.api_versions(f"127.0.0.1:{self.server.server_address[1]}")
        if path == "/api/v1":
            return discovery.resource_list(registry, "", "v1")
        if path == "/apis":
            return discovery.api_group_list(registry)
        if parts[0] == "apis" and len(parts) in (2, 3):
            doc = (discovery.api_group(registry, parts[1]) if len(parts) == 2
                   else discovery.resource_list(registry, parts[1], parts[2]))
            if doc is None:
                raise _not_found_path()
            return doc
        if path == "/openapi/v2":
            return discovery.OPENAPI_V2
        if path == "/openapi/v3":
            return discovery.openapi_v3_root(registry)
        if path.startswith("/openapi/v3/"):
            doc = discovery.openapi_v3_document(registry, path.removeprefix("/openapi/v3/"))
            if doc is None:
                raise _not_found_path()
            return doc
        return None

    def _resource(self, method, kind: Kind, ns, name, sub, query, content_type, raw) -> None:
        store = self.fake.store
        dry_run = query.get("dryRun") == "All"
        verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]
        if verb not in kind.verbs or (method == "POST" and name) or (method in ("PUT", "PATCH") and not name):
            raise errors.method_not_allowed(kind, verb)
        match_labels = label_selector(query.get("labelSelector"))
        match_fields = field_selector(query.get("fieldSelector"))

        def match(o):
            return match_labels(o) and match_fields(o)

        if verb == "get":
            return self._send_json(200, store.get(kind, ns, name))
        if verb == "list":
            items, rv = store.list(kind, ns, match)
            list_meta = {"resourceVersion": str(rv)}
            if "as=Table" in (self.headers.get("Accept") or ""):
                return self._send_json(200, discovery.as_table(items, list_meta, query.get("includeObject", "")))
            return self._send_json(200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                                         "metadata": list_meta, "items": items})
        if verb == "watch":
            return self._watch(kind, ns, query, match)
        body = self._decode_body(content_type, raw)
        if verb in ("delete", "deletecollection") and isinstance(body, dict):
            # client-go sends a delete's dryRun in the DeleteOptions body, not the query.
            dry_run = dry_run or "All" in (body.get("dryRun") or [])
        if verb == "create":
            if kind.virtual:
                return self._send_json(201, self.fake.access_review(body))
            self._check_type(kind, body)
            return self._send_json(201, store.create(kind, ns, body, dry_run))
        if verb == "update":
            self._check_type(kind, body)
            return self._send_json(200, store.update(kind, ns, name, body, sub, dry_run))
        if verb == "patch":
            if content_type not in PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType",
                               f"the body of the request was in an unknown format - accepted media "
                               f"types include: {', '.join(PATCH_TYPES)}")
            if content_type == APPLY and not query.get("fieldManager"):
                raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager")
            return self._send_json(200, store.patch(kind, ns, name, content_type, body, sub, dry_run))
        if verb == "delete":
            gone = store.delete(kind, ns, name, dry_run)
            details = {"name": name, "kind": kind.plural, "uid": gone["metadata"].get("uid")}
            if kind.group:
                details["group"] = kind.group
            return self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                         "status": "Success", "details": details})
        items = store.delete_collection(kind, ns, match, dry_run)
        return self._send_json(200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                                     "metadata": {"resourceVersion": str(store.rv)}, "items": items})

    @staticmethod
    def _check_type(kind: Kind, body) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be an object")
        if body.get("kind", kind.kind) != kind.kind or body.get("apiVersion", kind.api_version) != kind.api_version:
            raise errors.bad_request(f"the API version in the data ({body.get('apiVersion')}) does not "
                                     f"match the expected API version ({kind.api_version}) for {kind.kind}")

    # ---- watch ---------------------------------------------------------------------------

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_event(self, type_: str, obj: dict) -> None:
        self._write_chunk(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

    def _watch(self, kind: Kind, ns, query: dict, match) -> None:
        store, stopping = self.fake.store, self.server.stopping  # type: ignore[attr-defined]
        rv = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents") == "true"
        if rv not in ("", "0") and not rv.isdigit():
            raise errors.bad_request(f"invalid resource version: {rv!r}")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if initial or rv in ("", "0"):
            # No version, "0", or a watch-list request: the current state first, as ADDED events.
            items, cursor = store.list(kind, ns, match)
            for obj in items:
                self._send_event("ADDED", obj)
            if initial:
                self._send_event("BOOKMARK", {
                    "kind": kind.kind, "apiVersion": kind.api_version,
                    "metadata": {"resourceVersion": str(cursor),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
        else:
            cursor = int(rv)
        while not stopping.is_set() and (remaining := deadline - time.monotonic()) > 0:
            for event in store.wait_for_events(cursor, remaining, stopping):
                cursor = event.rv
                out = self._visible(kind, ns, match, event)
                if out:
                    self._send_event(*out)
        self._write_chunk(b"")

    @staticmethod
    def _visible(kind: Kind, ns, match, event: Event) -> tuple[str, dict] | None:
        """How a committed event looks to this watch, if at all: an object that moves into or out
        of the selection is ADDED or DELETED, as the API server's watch cache reports it."""
        if (event.group, event.plural) != (kind.group, kind.plural) or (ns and event.namespace != ns):
            return None
        now, before = match(event.obj), event.old is not None and match(event.old)
        if event.type == "MODIFIED" and now != before:
            type_ = "ADDED" if now else "DELETED"
        elif now:
            type_ = event.type
        else:
            return None
        obj = dict(event.obj, apiVersion=kind.api_version, kind=kind.kind)
        return type_, obj
