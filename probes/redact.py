"""Keep secrets out of everything synthmon prints, logs or publishes: known values become `***`."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Marks where `clip` cut a text: what precedes it may be the start of a secret.
CUT = "\u2026"
# postgresql://user:password@host and key=value DSNs (password=...).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)([^@\s]*)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def dsn_password(dsn: str) -> str | None:
    if "://" in dsn:
        try:
            return urllib.parse.urlsplit(dsn).password
        except ValueError:
            return None
    m = _KV_PASSWORD.search(dsn)
    return m.group(2).strip("'") if m else None


def dsn_target(dsn: str) -> str:
    """host:port/dbname of a DSN without user or password."""
    if "://" in dsn:
        try:
            p = urllib.parse.urlsplit(dsn)
            host = p.hostname or urllib.parse.parse_qs(p.query).get("host", [""])[0]
            return f"postgres://{host}:{p.port or 5432}{p.path}"
        except ValueError:
            return "postgres://" + MASK
    kv = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    return f"postgres://{kv.get('host', '').strip(chr(39))}:{kv.get('port', '5432')}/{kv.get('dbname', '')}"


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending with CUT when cut, so that `Redactor.text` can
    still mask a secret of which only the beginning is left (a server that echoes a header into its body)."""
    return text if len(text) <= limit else text[:limit - 1] + CUT


class Redactor:
    """Replaces every known secret value, and anything shaped like a credential, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so that a DSN is masked whole before its password is.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for s in self.secrets:
            if s in value:
                value = value.replace(s, MASK)
        if CUT in value and self.secrets:
            value = CUT.join(self._cut_tail(part) for part in value.split(CUT))
        value = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), value)
        value = _KV_PASSWORD.sub(lambda m: m.group(1) + MASK, value)
        return _BEARER.sub(lambda m: m.group(1) + MASK, value)

    def _cut_tail(self, part: str) -> str:
        """`part` with a trailing beginning of a secret (what a cut left of it) masked."""
        longest = max((k for s in self.secrets for k in range(min(len(s), len(part)), 0, -1)
                       if part.endswith(s[:k])), default=0)
        return part[:-longest] + MASK if longest else part

    def scrub(self, obj: Any) -> Any:
        """A copy of a JSON-like object with every string redacted (keys too)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.scrub(k): self.scrub(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj
