"""A loopback HTTP target that records the headers of every request it gets (trace-context tests).

`POST /login` answers a token, anything else `{"status": "ok"}`.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class Recorder:
    def __init__(self, ctx: Any = None) -> None:
        seen: list[tuple[str, str, dict[str, list[str]]]] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                headers: dict[str, list[str]] = {}
                for k, v in self.headers.items():
                    headers.setdefault(k.lower(), []).append(v)
                seen.append((self.command, self.path, headers))
                body = json.dumps({"access_token": "tok-123"} if self.path == "/login" else {"status": "ok"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = _answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if ctx is not None:
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if ctx is not None else "http"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def headers(self, path: str) -> list[dict[str, list[str]]]:
        """The headers of each request to `path`, in arrival order."""
        return [h for _, p, h in self.seen if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
