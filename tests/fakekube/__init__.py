"""A local Kubernetes API server for tests: see `server.FakeKube` and `fixtures`."""

from .errors import ApiError
from .server import FakeKube, Request

__all__ = ["ApiError", "FakeKube", "Request"]
