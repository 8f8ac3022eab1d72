"""A real DNS server on loopback (dnslib, UDP and TCP on one port number) serving a small staging
zone, with fault modes: servfail, slow (answers only when released), lying (a wrong CNAME)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSServer

ZONE = "staging.example.test."
CLOUD_RUN = "ghs.googlehosted.com."
RECORDS = f"""
{ZONE} 300 IN SOA ns1.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 60
api.{ZONE} 300 IN CNAME {CLOUD_RUN}
auth.{ZONE} 300 IN CNAME {CLOUD_RUN}
{CLOUD_RUN} 300 IN A 192.0.2.10
multi.{ZONE} 60 IN A 192.0.2.2
multi.{ZONE} 60 IN A 192.0.2.1
v6.{ZONE} 60 IN AAAA 2001:db8:0:0::1
txt.{ZONE} 60 IN TXT "google-site-verification=abc"
{ZONE} 300 IN CAA 0 issue "pki.goog"
"""


class _Quiet:
    """dnslib's logger prints every packet; tests read results, not logs."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


class _Resolver:
    def __init__(self) -> None:
        self.records = RR.fromZone(RECORDS)
        self.mode = "ok"
        self.release = threading.Event()
        self.queries = 0

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        self.queries += 1
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        if self.mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if self.mode == "slow":
            self.release.wait(30)  # the answer comes after the probe's deadline, when the test is done
        name = qname
        for _ in range(8):  # follow CNAMEs inside what this server knows, as a recursive resolver does
            same = [rr for rr in self.records if rr.rname == name]
            if self.mode == "lying" and str(name).startswith("api."):
                same = RR.fromZone(f"{name} 300 IN CNAME phish.example.net.")
            hits = [rr for rr in same if rr.rtype == qtype]
            cname = [rr for rr in same if rr.rtype == QTYPE.CNAME]
            if hits:
                reply.add_answer(*hits)
                return reply
            if cname:
                reply.add_answer(*cname)
                name = cname[0].rdata.label
                continue
            break
        if reply.rr:
            return reply
        soa = [rr for rr in self.records if rr.rtype == QTYPE.SOA]
        if not any(rr.rname == qname for rr in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(*soa)
        return reply


class DnsTarget:
    """UDP and TCP servers on the same loopback port (truncated answers retry over TCP)."""

    def __init__(self) -> None:
        self.resolver = _Resolver()
        for _ in range(20):
            self.udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=_Quiet())
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=self.port, tcp=True,
                                     logger=_Quiet())
                break
            except OSError:
                self.udp.server.server_close()
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.resolver.release.set()
        self.resolver.mode = "ok"
        self.resolver.release = threading.Event()

    def stop(self) -> None:
        self.resolver.release.set()
        for server in (self.udp, self.tcp):
            server.stop()
            server.server.server_close()


def silent_udp_port() -> socket.socket:
    """A bound UDP socket that never answers (the caller closes it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s
