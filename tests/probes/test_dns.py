"""The DNS probe against a real DNS server on loopback (tests/dns_server.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.timeseries import result_samples
from probes import dns as dns_probe
from probes import registry
from probes.checks import DnsCheck, DnsExpect
from probes.result import ProbeResult
from tests.dns_server import CLOUD_RUN, ZONE, DnsTarget, silent_udp_port


@pytest.fixture(scope="module")
def server() -> Iterator[DnsTarget]:
    target = DnsTarget()
    yield target
    target.stop()


@pytest.fixture()
def dns_target(server: DnsTarget) -> Iterator[DnsTarget]:
    server.reset()
    yield server
    server.reset()


def check(host: str, nameserver: str | None, record: str = "CNAME", timeout_s: float = 2.0,
          **expect: Any) -> DnsCheck:
    return DnsCheck(name="api-dns", type="dns", timeout_s=timeout_s, interval_s=60, failure_threshold=1,
                    success_threshold=1, renotify_s=3600, severity="critical", host=host, record=record,
                    nameserver=nameserver, expect=DnsExpect(**expect))


def run(c: DnsCheck) -> ProbeResult:
    return asyncio.run(dns_probe.probe(c))


def test_cname_to_cloud_run_passes(dns_target: DnsTarget) -> None:
    """The domain-mapping CNAME resolves: ok, phase `resolve`, the answer, a dns/resolve_ms sample."""
    r = run(check(f"api.{ZONE}", dns_target.nameserver, contains=(CLOUD_RUN,)))
    assert r.ok, r.to_dict()
    assert r.type == "dns" and set(r.phases_ms) == {"resolve"} and r.latency_ms == r.phases_ms["resolve"]
    assert r.details["answers"] == [CLOUD_RUN] and r.details["ttl"] == 300
    assert r.details["nameserver"] == dns_target.nameserver
    resolve = [s for s in result_samples(r) if s.metric.name == "dns/resolve_ms"]
    assert [(s.labels, s.value) for s in resolve] == [((("check", "api-dns"),), r.phases_ms["resolve"])]


def test_expected_name_without_trailing_dot_and_other_case(dns_target: DnsTarget) -> None:
    """Names compare case-insensitively and with or without the final dot."""
    r = run(check(f"auth.{ZONE}", dns_target.nameserver, equals=("GHS.googlehosted.com",)))
    assert r.ok, r.to_dict()


def test_a_through_cname_sorted_answers(dns_target: DnsTarget) -> None:
    """A records come back sorted; an A query through a CNAME names the canonical name."""
    r = run(check(f"multi.{ZONE}", dns_target.nameserver, "A", equals=("192.0.2.1", "192.0.2.2"),
                  min_answers=2))
    assert r.ok and r.details["answers"] == ["192.0.2.1", "192.0.2.2"], r.to_dict()
    r = run(check(f"api.{ZONE}", dns_target.nameserver, "A", contains=("192.0.2.10",)))
    assert r.ok and r.details["canonical_name"] == CLOUD_RUN, r.to_dict()


def test_txt_aaaa_caa(dns_target: DnsTarget) -> None:
    """TXT answers are the unquoted strings; AAAA compares as addresses; CAA as zone text."""
    r = run(check(f"txt.{ZONE}", dns_target.nameserver, "TXT", contains=("google-site-verification=abc",)))
    assert r.ok, r.to_dict()
    r = run(check(f"v6.{ZONE}", dns_target.nameserver, "AAAA", equals=("2001:db8:0::1",)))
    assert r.ok and r.details["answers"] == ["2001:db8::1"], r.to_dict()
    r = run(check(ZONE, dns_target.nameserver, "CAA", contains=('0 issue "pki.goog"',)))
    assert r.ok, r.to_dict()


def test_nxdomain_is_dns_and_names_the_zone(dns_target: DnsTarget) -> None:
    """NXDOMAIN: `dns`, with the zone from the answer's SOA and the domain-mapping target named."""
    r = run(check(f"gone.{ZONE}", dns_target.nameserver, contains=(CLOUD_RUN,)))
    assert r.failure is not None and r.failure.cls == "dns", r.to_dict()
    assert r.details["rcode"] == "NXDOMAIN" and r.details["zone"] == ZONE
    assert r.diagnosis is not None and ZONE in r.diagnosis and CLOUD_RUN in r.diagnosis


def test_no_record_of_that_type_is_dns(dns_target: DnsTarget) -> None:
    """The name exists but has no record of the type asked (NOERROR, empty answer): `dns`."""
    r = run(check(f"multi.{ZONE}", dns_target.nameserver, "TXT"))
    assert r.failure is not None and r.failure.cls == "dns", r.to_dict()
    assert "no TXT record" in r.failure.message and r.details["answers"] == []


def test_servfail_is_dns(dns_target: DnsTarget) -> None:
    """SERVFAIL: `dns`, the rcode in details, a diagnosis about delegation and DNSSEC."""
    dns_target.resolver.mode = "servfail"
    r = run(check(f"api.{ZONE}", dns_target.nameserver))
    assert r.failure is not None and r.failure.cls == "dns", r.to_dict()
    assert r.details["rcode"] == "SERVFAIL" and "SERVFAIL" in r.failure.message
    assert r.diagnosis is not None and "DNSSEC" in r.diagnosis


def test_answer_after_the_deadline_is_timeout(dns_target: DnsTarget) -> None:
    """A server that answers only after timeout_s: `timeout`, within the deadline, no resolve phase."""
    dns_target.resolver.mode = "slow"
    r = run(check(f"api.{ZONE}", dns_target.nameserver, timeout_s=0.5))
    assert r.failure is not None and r.failure.cls == "timeout", r.to_dict()
    assert r.latency_ms is not None and 450 <= r.latency_ms < 1500
    assert "resolve" not in r.phases_ms and dns_target.resolver.queries > 0


def test_silent_nameserver_is_timeout() -> None:
    """A nameserver address where nothing ever answers: `timeout`, naming the server."""
    with silent_udp_port() as s:
        port = s.getsockname()[1]
        r = run(check(f"api.{ZONE}", f"127.0.0.1:{port}", timeout_s=0.3))
    assert r.failure is not None and r.failure.cls == "timeout", r.to_dict()
    assert f"127.0.0.1:{port}" in r.failure.message


def test_lying_server_is_assertion(dns_target: DnsTarget) -> None:
    """A wrong CNAME: `assertion`, the answer in details, the diagnosis names the mapping target."""
    dns_target.resolver.mode = "lying"
    r = run(check(f"api.{ZONE}", dns_target.nameserver, contains=(CLOUD_RUN,)))
    assert r.failure is not None and r.failure.cls == "assertion", r.to_dict()
    assert r.details["answers"] == ["phish.example.net."]
    assert r.diagnosis is not None and "phish.example.net." in r.diagnosis and CLOUD_RUN in r.diagnosis
    assert "domain mapping" in r.diagnosis


def test_equals_and_min_answers(dns_target: DnsTarget) -> None:
    """An extra answer fails `equals`; too few answers fail `min_answers`."""
    r = run(check(f"multi.{ZONE}", dns_target.nameserver, "A", equals=("192.0.2.1",)))
    assert r.failure is not None and r.failure.cls == "assertion" and "exactly" in r.failure.message
    r = run(check(f"multi.{ZONE}", dns_target.nameserver, "A", min_answers=3))
    assert r.failure is not None and r.failure.cls == "assertion" and "min_answers 3" in r.failure.message


def test_max_latency(dns_target: DnsTarget) -> None:
    """A resolution slower than max_latency_ms is an assertion (0 ms can never be met)."""
    r = run(check(f"api.{ZONE}", dns_target.nameserver, max_latency_ms=0))
    assert r.failure is not None and r.failure.cls == "assertion" and "max_latency_ms" in r.failure.message


@pytest.mark.parametrize(("text", "want"), [("8.8.8.8", ("8.8.8.8", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
                                            ("2001:db8::1", ("2001:db8::1", 53)),
                                            ("[2001:db8::1]:5353", ("2001:db8::1", 5353))])
def test_split_nameserver(text: str, want: tuple[str, int]) -> None:
    """host[:port], IPv6 bare or bracketed."""
    assert dns_probe.split_nameserver(text) == want


@pytest.mark.parametrize("text", ["ns.example.com", "8.8.8.8:0", "8.8.8.8:70000", "[::1]x"])
def test_split_nameserver_rejects(text: str) -> None:
    """A name instead of an address, or a bad port, is refused."""
    with pytest.raises(ValueError):
        dns_probe.split_nameserver(text)


def test_registered_and_imported_lazily() -> None:
    """`dns` is in the registry; importing probes.dns does not import dnspython."""
    assert registry(["dns"])["dns"] is dns_probe.probe
    code = "import sys, probes.dns; print('dns.resolver' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unencodable_name_is_dns(dns_target: DnsTarget) -> None:
    """A label over 63 octets cannot be asked at all: `dns` with the generic diagnosis, no query sent."""
    before = dns_target.resolver.queries
    r = run(check("a" * 64 + "." + ZONE, dns_target.nameserver))
    assert r.failure is not None and r.failure.cls == "dns" and "LabelTooLong" in r.failure.message
    assert dns_target.resolver.queries == before
