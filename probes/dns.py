"""DNS probe: one query for `record` of `host`, through `nameserver` or the system resolver.

Success: the name resolves to at least `min_answers` records of that type, the answers contain
every name in `contains` (and are exactly `equals` when given), within `max_latency_ms`.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any

from probes.checks import DnsCheck
from probes.diagnosis import dns_diagnosis
from probes.result import ProbeResult

if TYPE_CHECKING:  # dnspython is imported on first use: an HTTP-only run never pays for it
    import dns.asyncresolver
    import dns.message

# dnspython retries a silent server every `timeout` seconds until the lifetime ends.
_TRY_TIMEOUT_S = 2.0


async def probe(check: DnsCheck) -> ProbeResult:
    """Resolve once, with no search domains (the host is absolute), and judge the answers.

    Failure classes: dns (NXDOMAIN, no record of that type, SERVFAIL/REFUSED, no resolver),
    timeout (no answer within `timeout_s`), assertion (unexpected answers, too few, too slow).
    """
    import dns.asyncresolver
    import dns.exception
    import dns.name
    import dns.resolver

    result = ProbeResult(check.name, "dns", check.target)
    result.details["record"] = check.record
    try:
        resolver = _resolver(check)
    except dns.resolver.NoResolverConfiguration as exc:
        return result.fail("dns", f"no system resolver: {exc}", None)
    result.details["nameserver"] = _server_text(resolver)
    started = time.perf_counter()
    try:
        answer = await resolver.resolve(dns.name.from_text(check.host), check.record,
                                        search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        zone = _zone(*exc.responses().values())
        return _failed(check, result, started, "dns", f"{check.host} does not exist (NXDOMAIN)",
                       "nxdomain", zone, rcode="NXDOMAIN")
    except dns.resolver.NoNameservers as exc:
        rcodes = _rcodes(exc)
        what = "/".join(rcodes) or "no usable answer"
        return _failed(check, result, started, "dns", f"{what} from {result.details['nameserver']} for "
                       f"{check.host} {check.record}", "servfail", None, rcode=what)
    except dns.exception.Timeout:
        return _failed(check, result, started, "timeout", f"no answer from {result.details['nameserver']} "
                       f"within {check.timeout_s:g} s", "timeout", None)
    except dns.exception.DNSException as exc:  # a name dnspython cannot encode, a malformed answer
        return _failed(check, result, started, "dns", f"{exc.__class__.__name__}: {exc}"[:300],
                       "other", None)
    resolve_ms = (time.perf_counter() - started) * 1000
    result.phases_ms = {"resolve": resolve_ms}
    result.latency_ms = resolve_ms
    answers = sorted(_text(rdata) for rdata in answer.rrset or ())
    result.details["answers"] = answers
    if answer.rrset is not None:
        result.details["ttl"] = answer.rrset.ttl
    if answer.canonical_name != answer.qname:
        result.details["canonical_name"] = answer.canonical_name.to_text()
    _judge(check, result, answers, _zone(answer.response) if not answers else None)
    return result


def _resolver(check: DnsCheck) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver

    if check.nameserver is None:
        resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf: on Cloud Run the metadata server
    else:
        host, port = split_nameserver(check.nameserver)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = check.timeout_s
    resolver.timeout = min(_TRY_TIMEOUT_S, check.timeout_s)
    resolver.cache = None
    return resolver


def split_nameserver(text: str) -> tuple[str, int]:
    """`8.8.8.8`, `8.8.8.8:5353`, `2001:db8::1`, `[2001:db8::1]:53` → (address, port).
    ValueError when the address is not an IP address or the port is out of range."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest.removeprefix(":")) if rest else 53
    elif text.count(":") == 1:
        host, _, raw = text.partition(":")
        port = int(raw)
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return host, port


def _server_text(resolver: dns.asyncresolver.Resolver) -> str:
    servers = [str(ns) for ns in resolver.nameservers]
    first = servers[0] if servers else "?"
    return f"{first}:{resolver.port}" if resolver.port != 53 else first


def _failed(check: DnsCheck, result: ProbeResult, started: float, cls: str, message: str, kind: str,
            zone: str | None, **details: Any) -> ProbeResult:
    result.latency_ms = (time.perf_counter() - started) * 1000
    result.phases_ms = {"resolve": result.latency_ms} if cls != "timeout" else {}
    result.details.update(details)
    if zone:
        result.details["zone"] = zone
    return result.fail(cls, message, dns_diagnosis(kind, check.host, check.record,
                                                   result.details.get("nameserver"), zone))


def _judge(check: DnsCheck, result: ProbeResult, answers: list[str], zone: str | None) -> None:
    expect, host = check.expect, check.host
    if not answers and expect.min_answers > 0:
        if zone:
            result.details["zone"] = zone
        result.fail("dns", f"{host} has no {check.record} record", dns_diagnosis(
            "no_answer", host, check.record, result.details.get("nameserver"), zone))
        return
    have = {_norm(check.record, a) for a in answers}
    missing = [want for want in expect.contains if _norm(check.record, want) not in have]
    problem = None
    if missing:
        problem = f"{check.record} answers {answers} lack {missing}"
    elif expect.equals is not None and have != {_norm(check.record, w) for w in expect.equals}:
        problem = f"{check.record} answers {answers} are not exactly {sorted(expect.equals)}"
    elif len(answers) < expect.min_answers:
        problem = f"{len(answers)} {check.record} answers, min_answers {expect.min_answers}"
    if problem:
        expected = list(expect.contains) or sorted(expect.equals or ())
        result.fail("assertion", problem, dns_diagnosis("unexpected", host, check.record,
                                                         result.details.get("nameserver"), None,
                                                         answers=answers, expected=expected))
    elif expect.max_latency_ms is not None and (result.latency_ms or 0) > expect.max_latency_ms:
        result.fail("assertion", f"resolution took {result.latency_ms:.0f} ms, over max_latency_ms "
                                 f"{expect.max_latency_ms:g}",
                    dns_diagnosis("slow", host, check.record, result.details.get("nameserver"), None))


def _text(rdata: Any) -> str:
    """An answer as text: TXT records as their joined strings (unquoted), others as in a zone file."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(rdata.to_text())


def _norm(record: str, text: str) -> str:
    """The comparable form: names lower-case and absolute, addresses canonical."""
    text = text.strip()
    if record in ("CNAME", "NS"):
        text = text.lower()
        return text if text.endswith(".") else text + "."
    if record in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    return text


def _zone(*responses: dns.message.Message | None) -> str | None:
    """The zone apex named by the SOA record a negative answer carries (RFC 2308 3), if any."""
    import dns.rdatatype

    for response in responses:
        for rrset in getattr(response, "authority", None) or ():
            if rrset.rdtype == dns.rdatatype.SOA:
                return str(rrset.name.to_text())
    return None


def _rcodes(exc: Any) -> list[str]:
    """The rcodes the nameservers answered with (SERVFAIL, REFUSED, ...), from NoNameservers."""
    import dns.rcode

    out: list[str] = []
    for error in exc.kwargs.get("errors") or ():
        answer: Any = error[-1] if isinstance(error, tuple) else None
        rcode = answer.rcode() if hasattr(answer, "rcode") else None
        text = dns.rcode.to_text(rcode) if rcode is not None else None
        if text and text not in out:
            out.append(text)
    return out
