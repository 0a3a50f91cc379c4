"""API errors, answered as `Status` objects the way kube-apiserver does (kubectl and the python
client read `reason`, `code`, `message` and `details` from them)."""

from __future__ import annotations

from http import HTTPStatus

from .resources import Kind


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(kind: Kind | None, name: str) -> dict:
    d = {"name": name}
    if kind is not None:
        d.update(kind=kind.plural, **({"group": kind.group} if kind.group else {}))
    return d


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind.group_resource} "{name}" not found', _details(kind, name))


def namespace_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                    {"name": ns, "kind": "namespaces"})


def already_exists(kind: Kind, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{kind.group_resource} "{name}" already exists',
                    _details(kind, name))


def conflict(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {kind.group_resource} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(kind, name))


def invalid(kind: Kind, name: str, field: str, why: str) -> ApiError:
    details = _details(kind, name)
    details["causes"] = [{"reason": "FieldValueInvalid", "message": why, "field": field}]
    return ApiError(422, "Invalid", f'{kind.kind} "{name}" is invalid: {field}: {why}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(kind: Kind | None, verb: str) -> ApiError:
    what = kind.group_resource if kind else "this resource"
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested "
                                             f"resource ({verb} {what})")


def injected(code: int, message: str | None = None) -> ApiError:
    """An error a test asked for; the reason is the one the API server uses for that code."""
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests",
               500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
    phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
    return ApiError(code, reasons.get(code, phrase.replace(" ", "")), message or f"injected: {phrase}")
