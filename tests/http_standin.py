"""A plain-HTTP stand-in for the ingress controller at the public IP.

The ingress check asks `http://PUBLIC_IP/` and takes any HTTP answer as the controller's. Tests send
that request here with the wizard's own `--resolve PUBLIC_IP:127.0.0.1:PORT`: nothing routes a
documentation address (RFC 5737) to a controller in the tests, and some networks (this sandbox's)
intercept it and answer themselves, which would make a test pass for the wrong reason.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class IngressControllerStandin:
    """Answers every GET with 404, as a controller with no route for the request does, and records
    the Host header of each request (so a test can show the check asked the public IP)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                seen.append(self.headers.get("Host", ""))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def target(self) -> str:
        """The ADDR:PORT of `--resolve HOST:ADDR:PORT`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> "IngressControllerStandin":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "IngressControllerStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
