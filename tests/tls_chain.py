"""A root → intermediate → leaf chain built with `cryptography`, each with its own expiry, for the
"which certificate expires first" tests (trustme cannot date an intermediate)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "synthmon tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
          days: float, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = (builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                          critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclasses.dataclass
class Chain:
    """Files of one chain: `ca_file` to trust, and a server context serving leaf + intermediate."""

    ca_file: str
    server: ssl.SSLContext
    leaf: x509.Certificate
    intermediate: x509.Certificate


def make_chain(directory: Path, *, root_days: float = 3650, intermediate_days: float = 5,
               leaf_days: float = 60) -> Chain:
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("synthmon test root", root_key, "synthmon test root", root_key, root_days, True)
    mid = _cert("synthmon test intermediate", mid_key, "synthmon test root", root_key, intermediate_days, True)
    leaf = _cert("localhost", leaf_key, "synthmon test intermediate", mid_key, leaf_days, False)
    ca_file = directory / "root.pem"
    ca_file.write_bytes(_pem(root))
    chain_file = directory / "chain.pem"
    chain_file.write_bytes(_pem(leaf) + _pem(mid))
    key_file = directory / "leaf.key"
    key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain_file, key_file)
    return Chain(str(ca_file), ctx, leaf, mid)

