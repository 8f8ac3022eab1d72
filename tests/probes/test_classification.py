"""One failure, one class, whichever probe meets it: the HTTP probe, its login, the WebSocket probe
and the PostgreSQL probe against the same real unreachable address, silent listener and TLS
servers that refuse the client, and the same proxy environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from servers import Tls, make_check, serving

from probes import http as http_probe
from probes import postgres as postgres_probe
from probes import websocket as websocket_probe
from probes.result import ProbeResult

# A multicast address: the kernel refuses a TCP connect to it at once (ENETUNREACH), no packet leaves.
UNREACHABLE = "224.0.0.1"


def probe(kind: str, host: str, port: int, *, scheme: str = "http", timeout_s: float = 1.0,
          **spec: Any) -> ProbeResult:
    """One probe of type `kind` (`login` is an HTTP check whose login goes to host:port)."""
    base: dict[str, Any] = {"name": "c", "timeout_s": timeout_s, **spec}
    if kind == "http":
        base.update(type="http", url=f"{scheme}://{host}:{port}/ok")
    elif kind == "login":
        base.update(type="http", url="http://127.0.0.1:9/never",
                    login={"url": f"{scheme}://{host}:{port}/auth/login", "json": {"user": "u"}})
    elif kind == "websocket":
        base.update(type="websocket", url=f"{'wss' if scheme == 'https' else 'ws'}://{host}:{port}/ws")
    else:
        base.update(type="postgres", host=host, port=port, user="u", password="p", dbname="d",
                    sslmode="disable")
    module = {"http": http_probe, "login": http_probe, "websocket": websocket_probe,
              "postgres": postgres_probe}[kind]
    return asyncio.run(module.probe(make_check(base)))


def failed(result: ProbeResult) -> str:
    assert result.failure is not None, result.to_dict()
    return result.failure.cls


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops every new SYN, so a connect gets no
    answer at all (a firewall that drops, seen from the client)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = []
        try:
            for _ in range(2):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            yield port
        finally:
            for filler in fillers:
                filler.close()


KINDS = ["http", "login", "websocket", "postgres"]


@pytest.mark.parametrize("kind", KINDS)
def test_unreachable_address_is_connect_timeout_in_every_probe(kind: str) -> None:
    """ENETUNREACH from the kernel is `connect_timeout` (a path problem) in every probe, with no
    connect phase of the target's."""
    r = probe(kind, UNREACHABLE, 80)
    assert failed(r) == "connect_timeout", r.to_dict()
    assert "ttfb" not in r.phases_ms and "auth" not in r.phases_ms


@pytest.mark.parametrize("kind", KINDS)
def test_dropped_syn_is_connect_timeout_in_every_probe(kind: str) -> None:
    """A connect that is never answered (SYN dropped) is `connect_timeout` in every probe, at the deadline."""
    with full_backlog() as port:
        r = probe(kind, "127.0.0.1", port, timeout_s=0.5)
    assert failed(r) == "connect_timeout", r.to_dict()


def refusing_context(tls: Tls, how: str) -> ssl.SSLContext:
    """A server context that refuses the probe: demands a client certificate (TLS 1.3, where the
    alert comes after the client finished its handshake; or TLS 1.2, during it), or sends a
    handshake_failure alert from its SNI callback."""
    ctx = Tls._ctx(tls.ca.issue_cert("localhost", "127.0.0.1"))
    if how.startswith("client_cert"):
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=tls.ca.cert_pem.bytes().decode())
        if how == "client_cert_tls12":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.sni_callback = lambda *_: ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
    return ctx


@contextlib.contextmanager
def refusing_server(ctx: ssl.SSLContext) -> Iterator[int]:
    """A TLS listener whose handshake fails by `ctx`'s rule; it then reads what the client sent
    until the client hangs up, so its alert is read by the client, not lost to a TCP reset."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            tls_sock = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            with tls_sock:
                tls_sock.settimeout(5)
                with contextlib.suppress(OSError):
                    tls_sock.do_handshake()
                with contextlib.suppress(OSError):
                    tls_sock.shutdown(socket.SHUT_WR)
                    while os.read(tls_sock.fileno(), 65536):
                        pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


@pytest.mark.parametrize("how", ["client_cert_tls13", "client_cert_tls12", "alert"])
@pytest.mark.parametrize("kind", ["http", "login", "websocket"])
def test_tls_refusal_is_tls_in_every_probe(tls: Tls, ca_file: str, kind: str, how: str) -> None:
    """A server that rejects the client during the handshake (TLS 1.2 client certificate, an alert
    from its SNI callback) or right after it (TLS 1.3 client certificate, whose alert the client
    reads as a receive error): `tls` in every probe."""
    with refusing_server(refusing_context(tls, how)) as port:
        r = probe(kind, "localhost", port, scheme="https", ca_file=ca_file)
    assert failed(r) == "tls", r.to_dict()


@pytest.mark.parametrize("cert", ["expired", "wrong_host", "untrusted"])
@pytest.mark.parametrize("kind", ["http", "login", "websocket"])
def test_bad_certificate_is_tls_in_every_probe(tls: Tls, ca_file: str, kind: str, cert: str) -> None:
    """An expired certificate, one for another name, or one from an unknown CA: `tls` everywhere."""
    ctx = tls.good if cert == "untrusted" else getattr(tls, cert)
    with serving(ctx) as server:
        r = probe(kind, "127.0.0.1", server.port, scheme="https",
                  **({} if cert == "untrusted" else {"ca_file": ca_file}))
    assert failed(r) == "tls", r.to_dict()


class CountingListener:
    """A loopback listener that counts connections and answers each with a 502, as a proxy
    whose upstream is down would."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture()
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingListener]:
    """Every proxy variable, both spellings, pointing at a counting loopback listener."""
    listener = CountingListener()
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        for spelled in (name, name.upper()):
            monkeypatch.setenv(spelled, f"http://127.0.0.1:{listener.port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    yield listener
    listener.sock.close()


@pytest.mark.parametrize("kind", ["http", "login", "websocket"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_proxy_environment_is_ignored_by_every_probe(proxy_env: CountingListener, tls: Tls, ca_file: str,
                                                     kind: str, scheme: str) -> None:
    """With http(s)_proxy/all_proxy set, every probe still goes direct: the proxy accepts nothing
    and the probe reaches the target (a refused port stays `connect_refused`, a TLS server is met)."""
    with serving(tls.good if scheme == "https" else None) as server:
        server_port = server.port
        r = probe(kind, "127.0.0.1", server_port, scheme=scheme, ca_file=ca_file)
    assert proxy_env.accepted == 0, r.to_dict()
    if kind == "http":
        assert r.ok, r.to_dict()
    elif kind == "login":  # the loopback server answers the login 200 without a token
        assert failed(r) == "auth" and r.details["login_status"] == 200, r.to_dict()
    else:  # it answers the upgrade 404, not the proxy's 502
        assert failed(r) == "http_status" and r.details["status"] == 404, r.to_dict()
