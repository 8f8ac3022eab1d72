"""Parsing `type: dns` checks and `cloud_trace_context`."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, loads
from probes.checks import DnsCheck, DnsExpect, HttpCheck, WebSocketCheck


def test_dns_check_parses() -> None:
    """Every key of the contract's example lands in the DnsCheck; defaults where absent."""
    cfg = loads("checks:\n- {name: api-dns, type: dns, host: api.staging.example.com, record: CNAME,"
                " nameserver: '8.8.8.8:53', expect: {contains: [ghs.googlehosted.com.], max_latency_ms: 500}}\n"
                "- {name: plain, type: dns, host: example.com}\n", "c.yaml")
    api, plain = cfg.checks
    assert isinstance(api, DnsCheck) and isinstance(plain, DnsCheck)
    assert (api.host, api.record, api.nameserver) == ("api.staging.example.com", "CNAME", "8.8.8.8:53")
    assert api.expect == DnsExpect(contains=("ghs.googlehosted.com.",), max_latency_ms=500)
    assert (plain.record, plain.nameserver, plain.expect) == ("A", None, DnsExpect())


@pytest.mark.parametrize(("entry", "message"), [
    ("host: 'api example.com'", "host: must be a DNS name"),
    ("host: a.example.com, record: MX", "record: must be one of A, AAAA, CNAME, TXT, NS, CAA"),
    ("host: a.example.com, nameserver: ns1.example.com", "nameserver: must be an IP address"),
    ("host: a.example.com, expect: {contain: [x.]}", "expect.contain: unknown key"),
    ("host: a.example.com, expect: {min_answers: -1}", "expect.min_answers"),
])
def test_dns_check_errors(entry: str, message: str) -> None:
    """Bad values are config errors naming the check and the field."""
    with pytest.raises(ConfigError, match=rf'c\.yaml:2:\d+: checks\[0\] "d": {message}'):
        loads(f"checks:\n- {{name: d, type: dns, {entry}}}\n", "c.yaml")


def test_cloud_trace_context_flag() -> None:
    """cloud_trace_context is a boolean on http and websocket checks, off by default."""
    cfg = loads("checks:\n- {name: a, type: http, url: 'http://127.0.0.1/', cloud_trace_context: true}\n"
                "- {name: b, type: websocket, url: 'ws://127.0.0.1/ws'}\n", "c.yaml")
    a, b = cfg.checks
    assert isinstance(a, HttpCheck) and a.cloud_trace_context
    assert isinstance(b, WebSocketCheck) and not b.cloud_trace_context
