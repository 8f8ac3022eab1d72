"""The top level of synthmon.yaml as a pydantic-core schema: location, sinks, defaults, checks,
maintenance, alerting. A validator returns the document's dicts, checked."""

from __future__ import annotations

from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from monitor.schema.checks import CHECK, DEFAULTS
from monitor.schema.values import STR, TIMESTAMP, integer, many, num, one_of, section

METRIC_SINKS = ("local", "prometheus", "cloud_monitoring")
ALERT_SINKS = ("local", "pubsub")

SINKS = section({
    "metrics": many(one_of(*METRIC_SINKS)),
    "alerts": many(one_of(*ALERT_SINKS)),
    "project_id": STR,
    "alert_topic": STR,
    "state": STR,
    "history": STR,
    "results_file": STR,
    "alerts_file": STR,
    "job": STR,
    "history_days": integer(1, 400),
})

# A one-off window (`start`, `end`) or a recurring one (`rrule`, `duration_s`): monitor.maintenance.
WINDOW = section({
    "checks": many(STR),
    "start": TIMESTAMP,
    "end": TIMESTAMP,
    "rrule": STR,
    "duration_s": num(1, 31 * 86400),
    "reason": STR,
})

_TOP: dict[str, cs.CoreSchema] = {
    "location": STR,
    "run_timeout_s": num(1, 3600),
    "sinks": SINKS,
    "defaults": DEFAULTS,
    "alerting": section({"quorum": integer(1, 50), "locations": many(STR)}),
}
DOCUMENT = section({**_TOP, "checks": cs.list_schema(CHECK), "maintenance": cs.list_schema(WINDOW)})

# The top level is validated with each check and window taken as is, then every check and window on
# its own: a mistake in one check does not hide the problems the others have with it (an unknown
# `depends_on`, a maintenance window naming a check).
TOP = SchemaValidator(section({**_TOP, "checks": cs.list_schema(cs.any_schema()),
                               "maintenance": cs.list_schema(cs.any_schema())}))
CHECKS = SchemaValidator(CHECK)
WINDOWS = SchemaValidator(WINDOW)
