"""The top level of synthmon.yaml as pydantic models: location, sinks, defaults, checks, maintenance, alerting."""

from __future__ import annotations

from typing import Annotated

from monitor.schema.checks import AnyCheck, DefaultsModel, Model
from monitor.schema.values import ONE_OR_MANY, Integer, Number, OneOf, Str, Timestamp

METRIC_SINKS = ("local", "prometheus", "cloud_monitoring")
ALERT_SINKS = ("local", "pubsub")


class SinksModel(Model):
    metrics: Annotated[tuple[Annotated[str, OneOf(*METRIC_SINKS)], ...], ONE_OR_MANY] | None = None
    alerts: Annotated[tuple[Annotated[str, OneOf(*ALERT_SINKS)], ...], ONE_OR_MANY] | None = None
    project_id: Str | None = None
    alert_topic: Str | None = None
    state: Str | None = None
    history: Str | None = None
    results_file: Str | None = None
    alerts_file: Str | None = None
    job: Str | None = None
    history_days: Annotated[int, Integer(1, 400)] | None = None


class AlertingModel(Model):
    quorum: Annotated[int, Integer(1, 50)] | None = None
    locations: Annotated[tuple[Str, ...], ONE_OR_MANY] | None = None


class WindowModel(Model):
    """A one-off window (`start`, `end`) or a recurring one (`rrule`, `duration_s`)."""

    checks: Annotated[tuple[Str, ...], ONE_OR_MANY] | None = None
    start: Timestamp | None = None
    end: Timestamp | None = None
    rrule: Str | None = None
    duration_s: Annotated[float, Number(1, 31 * 86400)] | None = None
    reason: Str | None = None


class DocumentModel(Model):
    location: Str | None = None
    run_timeout_s: Annotated[float, Number(1, 3600)] | None = None
    sinks: SinksModel | None = None
    defaults: DefaultsModel | None = None
    checks: list[AnyCheck] | None = None
    maintenance: list[WindowModel] | None = None
    alerting: AlertingModel | None = None
