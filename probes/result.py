"""The probe result and run report shapes (README "Result JSON"), and the closed set of failure classes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from probes.diagnosis import diagnose


class FailureClass(enum.StrEnum):
    """The closed set of failure classes, most specific first (the order is the tie-break)."""

    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS = "tls"
    CERT_EXPIRING = "cert_expiring"
    UNAVAILABLE = "unavailable"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    TIMEOUT = "timeout"
    AUTH = "auth"
    WS_CLOSED = "ws_closed"
    WS_EVENT_MISSING = "ws_event_missing"
    WS_EVENT_ORDER = "ws_event_order"
    AGENT_ERROR = "agent_error"
    DB_ERROR = "db_error"
    VPC_LATENCY = "vpc_latency"
    INTERNAL = "internal"


FAILURE_CLASSES: tuple[str, ...] = tuple(c.value for c in FailureClass)


def iso(ts: float) -> str:
    """Epoch seconds as the timestamps of results and reports: UTC, milliseconds, `Z`."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class Failure:
    cls: str
    message: str

    def __post_init__(self) -> None:
        if self.cls not in FAILURE_CLASSES:
            raise ValueError(f"unknown failure class {self.cls!r}")

    def to_dict(self) -> dict[str, str]:
        return {"class": self.cls, "message": self.message}


@dataclasses.dataclass
class ProbeResult:
    """One check's outcome. `failure` is None exactly when the check passed."""

    name: str
    type: str
    target: str
    ok: bool = True
    latency_ms: float | None = None
    phases_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    failure: Failure | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    diagnosis: str | None = None
    started_at: str | None = None

    def fail(self, cls: str, message: str, diagnosis: str | None = None) -> ProbeResult:
        """Mark failed with `cls` unless an earlier (more decisive) failure is already recorded.
        Every failure carries a diagnosis: the class's generic one when none is given."""
        if self.failure is None:
            self.ok = False
            self.failure = Failure(cls, message)
            self.diagnosis = diagnosis or diagnose(cls, self.target)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "ok": self.ok,
            "target": self.target,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "phases_ms": {k: round(v, 3) for k, v in self.phases_ms.items()},
            "failure": self.failure.to_dict() if self.failure else None,
            "details": self.details,
            "diagnosis": self.diagnosis,
        }


@dataclasses.dataclass
class RunReport:
    run_id: str
    started_at: str
    finished_at: str
    location: str
    results: list[ProbeResult]
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    duration_ms: float = 0.0
    # Results published while the run's other checks go on: no run duration (that is the run's).
    partial: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "location": self.location,
            "ok": self.ok,
            "duration_ms": round(self.duration_ms, 3),
            "results": [r.to_dict() for r in self.results],
            "skipped": list(self.skipped),
        }
