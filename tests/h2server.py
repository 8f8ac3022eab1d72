"""A real HTTP/2 server over TLS (ALPN `h2`) on loopback, built on the `h2` protocol library, with
fault modes that reset the probe's stream before or after the response headers."""

from __future__ import annotations

import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

BODY = b'{"status":"ok"}'
# Modes: what the server does with each request.
MODES = ("ok", "reset_before_headers", "refused_stream", "reset_after_headers", "goaway_before_headers",
         "bad_frame", "no_answer")
# A PING frame on stream 1: PING is only valid on stream 0 (RFC 9113 6.7), a connection error.
_BAD_FRAME = b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"\x00" * 8


class H2Server:
    """Serves `mode` on 127.0.0.1:`port`, one thread per connection; `alpn` lists what each
    connection negotiated and `requests` counts the requests received."""

    def __init__(self, ctx: ssl.SSLContext, mode: str = "ok") -> None:
        assert mode in MODES, mode
        ctx.set_alpn_protocols(["h2"])
        self.ctx, self.mode = ctx, mode
        self.alpn: list[str | None] = []
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def close(self) -> None:
        self.listener.close()
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> H2Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(raw)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except OSError:
            raw.close()
            return
        self._conns.append(tls)
        try:
            self.alpn.append(tls.selected_alpn_protocol())
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
            conn.initiate_connection()
            tls.sendall(conn.data_to_send())
            while data := tls.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self.requests += 1
                        tls.sendall(conn.data_to_send())
                        self._answer(tls, conn, event.stream_id)
                tls.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass  # the probe hung up, or this mode broke the connection on purpose
        finally:
            tls.close()

    def _answer(self, tls: ssl.SSLSocket, conn: h2.connection.H2Connection, stream_id: int) -> None:
        mode = self.mode
        if mode == "ok":
            conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                          ("content-length", str(len(BODY)))])
            conn.send_data(stream_id, BODY, end_stream=True)
        elif mode == "reset_before_headers":
            conn.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif mode == "refused_stream":
            conn.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
        elif mode == "reset_after_headers":
            conn.send_headers(stream_id, [(":status", "200"), ("content-length", "1000")])
            conn.send_data(stream_id, b"x" * 100)
            conn.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif mode == "goaway_before_headers":
            conn.close_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR, last_stream_id=0)
        elif mode == "bad_frame":
            tls.sendall(_BAD_FRAME)
