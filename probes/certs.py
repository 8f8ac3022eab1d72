"""Which certificate of a served TLS chain expires first; pure, no I/O.

A chain is only as long-lived as its shortest-lived member: a fresh leaf under an intermediate
that expires next week breaks every client next week (blackbox_exporter #340, #442). So TLS
results name and measure the certificate that expires first, not the leaf.
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import Any

# Short attribute names of X.509 distinguished names (RFC 4514 3), for the names Python's ssl gives.
_SHORT = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
          "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
          "domainComponent": "DC", "emailAddress": "emailAddress"}


@dataclasses.dataclass(frozen=True)
class CertInfo:
    subject: str  # e.g. "O=trustme, CN=localhost"
    issuer: str
    not_after_s: float  # Unix time
    depth: int  # 0 is the leaf, 1 the certificate that issued it, ...

    @property
    def not_after(self) -> str:
        """RFC 3339, UTC, e.g. 2026-12-04T19:31:42Z."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.not_after_s))

    def days_left(self, now_s: float | None = None) -> float:
        return (self.not_after_s - (time.time() if now_s is None else now_s)) / 86400

    def details(self) -> dict[str, Any]:
        """`details.cert` of a TLS result (plus `depth`, so that on-call sees it is not the leaf)."""
        return {"subject": self.subject, "issuer": self.issuer, "not_after": self.not_after,
                "depth": self.depth}


def first_expiring(chain: Iterable[CertInfo]) -> CertInfo | None:
    """The certificate with the earliest notAfter (the one nearest the leaf on a tie)."""
    return min(chain, key=lambda c: (c.not_after_s, c.depth), default=None)


def from_curl(certinfo: Sequence[Sequence[tuple[str, str]]]) -> list[CertInfo]:
    """The served chain from libcurl's CURLINFO_CERTINFO (one list of (field, value) per certificate,
    leaf first); certificates without a readable expiry are left out."""
    out = []
    for depth, fields in enumerate(certinfo):
        values = dict(fields)
        try:
            not_after = float(ssl.cert_time_to_seconds(values.get("Expire date", "")))
        except ValueError:
            continue
        out.append(CertInfo(_curl_name(values.get("Subject", "")), _curl_name(values.get("Issuer", "")),
                            not_after, depth))
    return out


def _curl_name(text: str) -> str:
    # libcurl prints names with OpenSSL's X509_NAME_print_ex: "O = y, CN = x", in certificate order.
    return text.replace(" = ", "=")


def from_ssl(infos: Iterable[dict[str, Any]]) -> list[CertInfo]:
    """The chain from Python's ssl certificate dictionaries (`getpeercert()` / `Certificate.get_info()`)."""
    out = []
    for depth, info in enumerate(infos):
        try:
            not_after = float(ssl.cert_time_to_seconds(info["notAfter"]))
        except (KeyError, ValueError):
            continue
        out.append(CertInfo(_ssl_name(info.get("subject", ())), _ssl_name(info.get("issuer", ())),
                            not_after, depth))
    return out


def _ssl_name(rdns: Any) -> str:
    # ssl gives ((("organizationName", "y"),), (("commonName", "x"),)): printed in that order, as
    # libcurl prints it, so that both probes name a certificate alike ("O=y, CN=x").
    return ", ".join(f"{_SHORT.get(k, k)}={v}" for rdn in rdns for k, v in rdn)
