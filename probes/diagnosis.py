"""One sentence per failure class that tells on-call where to look first."""

from __future__ import annotations

import urllib.parse

_GENERIC: dict[str, str] = {
    "dns": "the name does not resolve: check the DNS record or Cloud Run domain mapping for this host",
    "connect_refused": "nothing accepts connections on this address and port: the listener or load balancer is down or the port is wrong",
    "connect_timeout": "no TCP answer within the deadline: a firewall, a routing/VPC problem or a host that is down",
    "tls": "the TLS handshake failed: the certificate is untrusted, expired or for another host; check the certificate and the load balancer's certificate map",
    "cert_expiring": "the certificate expires soon: renew it or check that managed-certificate renewal is working",
    "unavailable": "the service answers 502/503/504: no healthy instance is serving (startup failure, crash loop or overload); check the revision's logs",
    "http_status": "the service answered an unexpected HTTP status: check the route, the deployed revision and recent changes",
    "assertion": "the service answered, but not what the check expects: read the body and latency in details",
    "timeout": "connected, but the answer did not arrive in time: the service or one of its dependencies is slow or stuck",
    "auth": "authentication failed: check the probe credentials, the secret they come from and the auth service",
    "ws_closed": "the server closed the WebSocket early: check the backend logs around this time for the close reason",
    "ws_event_missing": "a required agent event never arrived: the agent pipeline (workers, LLM calls, event emission) is stuck or broken",
    "ws_event_order": "agent events arrived out of order: check event emission in the backend",
    "agent_error": "the agent reported an error in its event stream: read the message in details and the agent's logs",
    "db_error": "the database answered with an error: read the SQLSTATE in details (connections exhausted, timeouts, permissions)",
    "vpc_latency": "the network path to the database is slow, not the database: check the Serverless VPC Access connector's capacity (instances, CPU) and the egress setting",
    "internal": "a bug in synthmon itself: see its logs for the traceback; the target was not judged",
}


def diagnose(cls: str, target: str = "") -> str:
    """The diagnosis sentence for a failure class, sharpened by what the target is."""
    text = _GENERIC.get(cls, _GENERIC["internal"])
    host = urllib.parse.urlsplit(target).hostname or ""
    if cls == "unavailable" and host.endswith(".run.app"):
        return ("the Cloud Run URL answers 503: no instance is serving — the container may be failing "
                "at startup (check the revision's logs for import errors)")
    if cls == "dns" and host.endswith(".run.app"):
        return "the Cloud Run URL does not resolve: the service may have been deleted or renamed"
    return text


# The target a Cloud Run domain mapping asks for (CNAME for subdomains).
CLOUD_RUN_CNAME = "ghs.googlehosted.com."


def dns_diagnosis(kind: str, host: str, record: str, nameserver: str | None, zone: str | None,
                  answers: list[str] | None = None, expected: list[str] | None = None) -> str:
    """Where to look for a DNS check's failure: `kind` is nxdomain, no_answer, servfail, timeout,
    unexpected or slow; `zone` is the apex from the negative answer's SOA, when the server sent one."""
    where = f"the zone {zone}" if zone else f"the zone that holds {host}"
    mapping = (f"; a Cloud Run domain mapping needs `{host} CNAME {CLOUD_RUN_CNAME}`"
               if record in ("CNAME", "A", "AAAA") else "")
    server = nameserver or "the system resolver"
    if kind == "nxdomain":
        return f"{host} does not exist: check its record in {where} (Cloud DNS or the registrar){mapping}"
    if kind == "no_answer":
        return f"{host} exists but has no {record} record: add it in {where}{mapping}"
    if kind == "servfail":
        return (f"{server} could not answer for {host}: the zone's authoritative servers are unreachable "
                f"or DNSSEC validation failed; check the NS delegation at the registrar and DNSSEC of {where}")
    if kind == "timeout":
        return (f"{server} did not answer in time: it is down, unreachable (firewall, VPC egress) or "
                "overloaded; compare with another nameserver")
    if kind == "unexpected":
        pointed = ", ".join(answers or []) or "nothing"
        wanted = ", ".join(expected or [])
        hint = (" (the Cloud Run domain mapping target): fix the record or re-create the domain mapping"
                if any(w.lower().rstrip(".") == CLOUD_RUN_CNAME.rstrip(".") for w in expected or [])
                else "")
        return (f"{host} {record} points to {pointed}, not {wanted}{hint}; check {where} for a stale "
                "or hijacked record")
    if kind == "slow":
        return f"{server} answers slowly: the resolver or the zone's authoritative servers are overloaded"
    return _GENERIC["dns"]


def cert_expiring_diagnosis(subject: str, not_after: str, depth: int) -> str:
    """Names the certificate that expires first; an intermediate is the CA's or the load balancer's
    chain to fix, not the leaf's renewal."""
    if depth == 0:
        return (f"the certificate {subject} expires {not_after}: renew it or check that "
                "managed-certificate renewal is working")
    return (f"the intermediate certificate {subject} (depth {depth} of the served chain) expires "
            f"{not_after}, before the leaf: serve the CA's current intermediate in the chain "
            "(the certificate bundle or the load balancer's certificate)")
