"""Misbehaving HTTP targets on loopback: a raw TCP server on port 0 whose handler writes exactly the bytes
(or silence, or reset) a fault needs, and records the request heads it received."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """Accepts on 127.0.0.1:0 and runs `handler(conn, server)` per connection in its own thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()  # set at teardown: every paced or stalled handler returns
        self.requests: list[bytes] = []  # request heads, in arrival order
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handler(conn, self)

    def read_head(self, conn: socket.socket) -> bytes:
        """The request line and headers, recorded in `requests`; a Content-Length body is read and dropped."""
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        self.requests.append(head)
        length = int(headers_of(head).get("content-length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[RawServer]:
    server = RawServer(handler)
    try:
        yield server
    finally:
        server.close()


def reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def head_lines(status: str, *headers: str) -> bytes:
    return ("\r\n".join((f"HTTP/1.1 {status}", *headers)) + "\r\n\r\n").encode()


def headers_of(head: bytes) -> dict[str, str]:
    """Header names (lower case) to values of one recorded request head."""
    out: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = value.strip()
    return out


# Handlers: one per fault. `server.stop.wait(t)` paces a handler and ends it at teardown.

def slowloris(conn: socket.socket, server: RawServer) -> None:
    """Answers one byte per second, starting with the status line."""
    server.read_head(conn)
    for byte in head_lines("200 OK", "Content-Length: 2") + b"ok":
        conn.sendall(bytes([byte]))
        if server.stop.wait(1.0):
            return


def stops_mid_body(conn: socket.socket, server: RawServer) -> None:
    """Promises 1000 bytes, sends 100, closes cleanly (FIN)."""
    server.read_head(conn)
    conn.sendall(head_lines("200 OK", "Content-Length: 1000") + b"x" * 100)


def chunked_stops_mid_chunk(conn: socket.socket, server: RawServer) -> None:
    """Chunked body whose second chunk is cut short, then FIN (no terminating 0-chunk)."""
    server.read_head(conn)
    conn.sendall(head_lines("200 OK", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n64\r\nabc")


def reset_after_headers(conn: socket.socket, server: RawServer) -> None:
    """Sends the headers (Content-Length 1000) and a little body, then RST."""
    server.read_head(conn)
    conn.sendall(head_lines("200 OK", "Content-Length: 1000") + b"x" * 10)
    reset(conn)


def reset_before_response(conn: socket.socket, server: RawServer) -> None:
    """Reads the request, then RST without a byte of response."""
    server.read_head(conn)
    reset(conn)


def empty_reply(conn: socket.socket, server: RawServer) -> None:
    """Reads the request, then closes cleanly without answering."""
    server.read_head(conn)


def two_gigabytes_never_come(conn: socket.socket, server: RawServer) -> None:
    """Announces a 2 GB body, sends 64 KiB of it, then holds the connection open in silence."""
    server.read_head(conn)
    conn.sendall(head_lines("200 OK", f"Content-Length: {2 << 30}", "Content-Type: text/plain") + b"a" * 65536)
    server.stop.wait()


def two_gigabytes_streamed(conn: socket.socket, server: RawServer) -> None:
    """Announces a 2 GB body and streams it as fast as the client reads."""
    server.read_head(conn)
    conn.sendall(head_lines("200 OK", f"Content-Length: {2 << 30}", "Content-Type: text/plain"))
    block = b"a" * 65536
    for _ in range((2 << 30) // len(block)):
        if server.stop.is_set():
            return
        conn.sendall(block)


def tls_never_finishes(conn: socket.socket, server: RawServer) -> None:
    """Accepts TCP, reads the ClientHello and never answers it."""
    conn.recv(65536)
    server.stop.wait()


def redirect_loop(conn: socket.socket, server: RawServer) -> None:
    """Every request is redirected to itself."""
    server.read_head(conn)
    conn.sendall(head_lines("302 Found", "Location: /loop", "Content-Length: 0"))


def slow_redirect_loop(conn: socket.socket, server: RawServer) -> None:
    """A redirect loop whose every hop takes 200 ms: the deadline must cover all hops together."""
    server.read_head(conn)
    if not server.stop.wait(0.2):
        conn.sendall(head_lines("302 Found", "Location: /loop", "Content-Length: 0"))


def redirect_to(location: str) -> Handler:
    def handler(conn: socket.socket, server: RawServer) -> None:
        server.read_head(conn)
        conn.sendall(head_lines("302 Found", f"Location: {location}", "Content-Length: 0"))
    return handler


def ok_json(conn: socket.socket, server: RawServer) -> None:
    """Records the request head and answers 200 {"status":"ok"}."""
    server.read_head(conn)
    body = b'{"status":"ok"}'
    conn.sendall(head_lines("200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}") + body)


def body(payload: bytes, *headers: str) -> Handler:
    """A 200 with `payload` as the body (Content-Length set) and extra headers."""
    def handler(conn: socket.socket, server: RawServer) -> None:
        server.read_head(conn)
        conn.sendall(head_lines("200 OK", f"Content-Length: {len(payload)}", *headers) + payload)
    return handler


def gzip_bomb(decoded_mib: int) -> bytes:
    """`decoded_mib` MiB of zeros, gzipped (about 1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    zeros = b"\0" * (1 << 20)
    return b"".join([*(comp.compress(zeros) for _ in range(decoded_mib)), comp.flush()])


def http10_until_close(conn: socket.socket, server: RawServer) -> None:
    """HTTP/1.0 without Content-Length: the body ends where the server closes."""
    server.read_head(conn)
    conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"status":"ok"}')


def not_http(conn: socket.socket, server: RawServer) -> None:
    """Answers with another protocol's banner (an SSH server on the HTTP port)."""
    server.read_head(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")


def endless_headers(conn: socket.socket, server: RawServer) -> None:
    """A status line followed by header lines that never end."""
    server.read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    while not server.stop.is_set():
        conn.sendall(line * 64)
