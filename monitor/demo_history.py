"""`synthmon demo`'s back-fill: a few minutes of SYNTHETIC history so a newcomer's first /status has bars.

Written once, at demo start, only into an empty history; every row is marked: run id `synthetic-…`
(drawn faded on /status, with a note), and a diagnosis that says it was not measured. It includes one short
made-up 503 incident so that /status/<check> shows what an incident looks like. Real results follow.
"""

from __future__ import annotations

import random

from monitor.history import History, Row

PHASES = {"http": ("dns", "connect", "ttfb", "transfer"),
          "websocket": ("login", "connect", "handshake", "first_event", "complete")}
NOTE = "synthetic demo history written at start, not measured"


def backfill(config: object, hist: History, now: float, minutes: int = 30) -> int:
    """Rows for every check at its interval over the last `minutes`; 0 when history is not empty."""
    checks = getattr(config, "checks", ())
    location = str(getattr(config, "location", "local"))
    if any(hist.recent(c.name, limit=1) for c in checks):
        return 0
    from probes.redact import Redactor

    redact = Redactor(getattr(config, "secrets", frozenset())).text
    rng = random.Random(14)
    rows = []
    start = now - minutes * 60
    outage = (now - minutes * 60 * 0.4, now - minutes * 60 * 0.3)  # a 503 for a tenth of the span
    for c in checks:
        step = max(float(c.interval_s), 10.0)
        t, i = start, 0
        while t < now - step:
            failed = outage[0] <= t < outage[1] and c.type in PHASES
            phases = {p: round(rng.uniform(0.2, 4.0 if c.type == "http" else 40.0), 2) for p in PHASES.get(c.type, ())}
            rows.append(Row(ts=t, location=location, check=c.name, ok=not failed,
                            cls="unavailable" if failed else None,
                            message="HTTP 503 Service Unavailable (synthetic)" if failed else None,
                            latency_ms=round(sum(phases.values()) or rng.uniform(1, 20), 2),
                            run_id=f"synthetic-{int(t)}-{i}", phases_ms=phases, target=redact(c.target),
                            diagnosis=NOTE))
            t += step
            i += 1
    hist.store.write(rows)
    return len(rows)
