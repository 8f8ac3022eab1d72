"""Which certificate: TLS results name and measure the certificate of the served chain that expires
first (here the intermediate), over real loopback HTTPS and WSS servers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from monitor.timeseries import result_samples
from probes import http as http_probe
from probes import websocket as websocket_probe
from probes.certs import CertInfo, first_expiring, from_curl, from_ssl
from probes.checks import HttpCheck, WebSocketCheck
from tests.servers import Server
from tests.tls_chain import Chain, make_chain

COMMON: dict[str, Any] = dict(timeout_s=5, interval_s=60, failure_threshold=1, success_threshold=1,
                              renotify_s=3600, severity="critical")
INTERMEDIATE = "O=synthmon tests, CN=synthmon test intermediate"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """Leaf valid 60 days under an intermediate that expires in 5 (the root: 10 years)."""
    return make_chain(tmp_path_factory.mktemp("chain"), intermediate_days=5, leaf_days=60)


def _assert_names_intermediate(details: dict[str, Any], chain: Chain) -> None:
    cert = details["cert"]
    assert cert["subject"] == INTERMEDIATE and cert["issuer"] == "O=synthmon tests, CN=synthmon test root"
    assert cert["depth"] == 1
    want = chain.intermediate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert["not_after"] == want
    assert 4.9 < details["cert_days_left"] <= 5


def test_http_names_the_intermediate(chain: Chain) -> None:
    """HTTPS: details.cert is the intermediate, cert_days_left measures it, cert_expiring names it."""
    server = Server(chain.server)
    try:
        check = HttpCheck(name="api", type="http", url=server.url("/ok", host="localhost"), **COMMON,
                          ca_file=chain.ca_file, cert_min_days=14)
        r = asyncio.run(http_probe.probe(check))
    finally:
        server.close()
    assert r.failure is not None and r.failure.cls == "cert_expiring", r.to_dict()
    _assert_names_intermediate(r.details, chain)
    assert INTERMEDIATE in r.failure.message
    assert r.diagnosis is not None and INTERMEDIATE in r.diagnosis and r.details["cert"]["not_after"] in r.diagnosis
    days = [s.value for s in result_samples(r) if s.metric.name == "tls/cert_days_left"]
    assert days == [r.details["cert_days_left"]]


def test_http_passes_when_the_chain_is_long_lived(tmp_path: Path) -> None:
    """When every certificate outlives cert_min_days the check passes and names the leaf if it is first."""
    long = make_chain(tmp_path, intermediate_days=400, leaf_days=90)
    server = Server(long.server)
    try:
        check = HttpCheck(name="api", type="http", url=server.url("/ok", host="localhost"), **COMMON,
                          ca_file=long.ca_file)
        r = asyncio.run(http_probe.probe(check))
    finally:
        server.close()
    assert r.ok, r.to_dict()
    assert r.details["cert"]["subject"] == "O=synthmon tests, CN=localhost" and r.details["cert"]["depth"] == 0
    assert 89.9 < r.details["cert_days_left"] <= 90


def test_websocket_names_the_intermediate(chain: Chain) -> None:
    """WSS: the same certificate is named, read from the handshake the probe made (no second one)."""
    async def chat(ws: ServerConnection) -> None:
        await ws.recv()
        for event in ("agent_started", "agent_completed"):
            await ws.send(json.dumps({"type": event}))
        await ws.wait_closed()

    async def main() -> Any:
        async with serve(chat, "127.0.0.1", 0, ssl=chain.server) as server:
            port = server.sockets[0].getsockname()[1]
            check = WebSocketCheck(name="golden", type="websocket", url=f"wss://localhost:{port}/ws", **COMMON,
                                   handshake="none", ca_file=chain.ca_file, cert_min_days=14)
            return await websocket_probe.probe(check)

    r = asyncio.run(main())
    assert r.failure is not None and r.failure.cls == "cert_expiring", r.to_dict()
    _assert_names_intermediate(r.details, chain)
    assert r.diagnosis is not None and INTERMEDIATE in r.diagnosis and "intermediate" in r.diagnosis


def test_first_expiring_prefers_earliest_then_leaf() -> None:
    """Earliest notAfter wins; on a tie, the certificate nearest the leaf."""
    now = time.time()
    leaf, mid, root = (CertInfo("CN=leaf", "CN=mid", now + 86400 * 30, 0), CertInfo("CN=mid", "CN=root", now + 86400 * 30, 1),
                       CertInfo("CN=root", "CN=root", now + 86400, 2))
    assert first_expiring([leaf, mid, root]) is root
    assert first_expiring([mid, leaf]) is leaf
    assert first_expiring([]) is None


def test_parsers_agree_and_skip_unreadable() -> None:
    """libcurl's and ssl's forms of one certificate give the same CertInfo; no date, no entry."""
    curl = from_curl([[("Subject", "O = a, CN = b"), ("Issuer", "CN = c"), ("Expire date", "Dec  4 19:31:42 2030 GMT")],
                      [("Subject", "CN = c")]])
    ssl_form = from_ssl([{"subject": ((("organizationName", "a"),), (("commonName", "b"),)),
                          "issuer": ((("commonName", "c"),),), "notAfter": "Dec  4 19:31:42 2030 GMT"}, {}])
    assert curl == ssl_form == [CertInfo("O=a, CN=b", "CN=c", curl[0].not_after_s, 0)]
    assert curl[0].not_after == "2030-12-04T19:31:42Z"
