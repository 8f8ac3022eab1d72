"""Load and validate synthmon.yaml once: `${VAR}` interpolation, defaults, unknown keys rejected.

A config that loads is fully checked: every later part may trust its types and ranges.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from monitor import checkparse
from monitor.fields import Fields
from probes import checks as checks_mod
from probes.checks import Check, Defaults

_VAR = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
# `${VAR}` is swapped for this token before YAML parsing (so that `{email: ${PROBE_USER}}` is valid
# flow YAML) and resolved after it, in string values only: a value can never inject YAML structure.
_REF = re.compile(r"__synthmon_ref_(\d+)__")
# Environment variables whose values are secrets wherever they are used.
_SECRET_VAR = re.compile(r"PASS|SECRET|TOKEN|KEY|DSN|CREDENTIAL|AUTH", re.IGNORECASE)

METRIC_SINKS = ("local", "prometheus", "cloud_monitoring")
ALERT_SINKS = ("local", "pubsub")


class ConfigError(Exception):
    """A config problem, located: `file: checks[2] "name": field: what is wrong`."""

    def __init__(self, file: str, where: str, field: str, problem: str) -> None:
        self.file, self.where, self.field, self.problem = file, where, field, problem
        parts = [p for p in (where, field) if p]
        super().__init__(f"{file}: {': '.join(parts)}: {problem}" if parts else f"{file}: {problem}")


@dataclasses.dataclass(frozen=True)
class Sinks:
    metrics: tuple[str, ...] = ("local",)
    alerts: tuple[str, ...] = ("local",)
    project_id: str | None = None
    alert_topic: str = "synthmon-alerts"
    state: str = "sqlite:///.synthmon/state.db"
    results_file: str = ".synthmon/results.jsonl"
    alerts_file: str = ".synthmon/alerts.jsonl"
    job: str = "synthmon"
    history_days: int = 30  # how long results are kept for /status, /history and report
    history: str | None = None  # store URL like `state`; None: beside the state store


@dataclasses.dataclass(frozen=True)
class Alerting:
    """Multi-region alerting: a check pages as `global` only when failing in >= quorum locations."""

    quorum: int | None = None  # None: a majority of `locations` (1 for a single location)
    locations: tuple[str, ...] = ()  # every location that writes to the shared state store


@dataclasses.dataclass(frozen=True)
class MaintenanceWindow:
    checks: tuple[str, ...]  # empty tuple means every check
    start: dt.datetime
    end: dt.datetime
    reason: str = ""

    def covers(self, check: str, now: dt.datetime) -> bool:
        return (not self.checks or check in self.checks) and self.start <= now < self.end


@dataclasses.dataclass(frozen=True)
class Config:
    path: str
    location: str
    run_timeout_s: float | None  # optional bound on a run; every check's budget_s fits in it
    sinks: Sinks
    defaults: Defaults
    checks: tuple[Check, ...]
    maintenance: tuple[MaintenanceWindow, ...] = ()
    secrets: frozenset[str] = frozenset()
    alerting: Alerting = Alerting()

    @property
    def run_bound_s(self) -> float:
        """How long a run's checks may take: `run_timeout_s`, else the longest check budget."""
        if self.run_timeout_s is not None:
            return self.run_timeout_s
        return max((c.budget_s for c in self.checks), default=10.0)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def check_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks)


def default_path(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("SYNTHMON_CONFIG") or "synthmon.yaml"


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a config file. Raises ConfigError, never anything else."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "", "", f"cannot read: {exc.__class__.__name__}: {exc}") from None
    return loads(text, name, os.environ if environ is None else environ, base_dir=Path(path).parent)


def loads(text: str, name: str = "<config>", environ: Mapping[str, str] | None = None,
          base_dir: Path | None = None) -> Config:
    environ = {} if environ is None else environ
    refs: list[tuple[str, str | None, str | None]] = []  # (variable, default, literal text)

    def protect(m: re.Match[str]) -> str:
        refs.append(("", None, m.group(0)[1:]) if m.group(1) else (m.group(2), m.group(3), None))
        return f"__synthmon_ref_{len(refs) - 1}__"

    try:
        raw = yaml.safe_load(_VAR.sub(protect, text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(name, "", "", f"invalid YAML{at}") from None
    except RecursionError:
        raise ConfigError(name, "", "", "invalid YAML: nested too deeply") from None
    except (ValueError, ArithmeticError, LookupError, AttributeError, TypeError) as exc:
        # PyYAML's scalar constructors let conversion errors escape: `!!int _`, `!!bool x`,
        # `!!timestamp x`, `2024-02-30`, an integer of more than 4300 digits.
        raise ConfigError(name, "", "", f"invalid YAML value: {str(exc)[:80]}") from None
    if raw is None:
        raw = {}
    secrets: set[str] = set()
    try:
        raw = _interpolate(raw, name, "", "", _Env(environ, refs), secrets)
    except RecursionError:  # an alias inside its own anchor (`a: &x [*x]`) is a cycle
        raise ConfigError(name, "", "", "invalid YAML: recursive alias or nested too deeply") from None
    top = Fields(raw, name, "", "")
    location = top.str("location", "local")
    run_timeout_s = top.number("run_timeout_s", None, lo=1, hi=3600)
    sinks = _sinks(top.mapping("sinks"), name)
    defaults = checkparse.parse_defaults(top.mapping("defaults"), name)
    raw_checks = top.list("checks", [])
    maintenance_raw = top.list("maintenance", [])
    alerting = _alerting(top.mapping("alerting"), name)
    top.done()
    parsed: list[Check] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_checks):
        check = checkparse.parse_check(item, i, name, defaults, base_dir or Path("."), secrets)
        if check.name in seen:
            raise ConfigError(name, f'checks[{i}] "{check.name}"', "name", "duplicate check name")
        seen.add(check.name)
        parsed.append(check)
    windows = tuple(_window(w, i, name, seen) for i, w in enumerate(maintenance_raw))
    _check_relations(parsed, name, run_timeout_s)
    return Config(name, location, run_timeout_s, sinks, defaults, tuple(parsed), windows,
                  frozenset(s for s in secrets if len(s) >= 4), alerting)


def _alerting(raw: Mapping[str, Any], file: str) -> Alerting:
    f = Fields(raw, file, "", "alerting.")
    quorum = f.number("quorum", None, lo=1, hi=50, integer=True)
    locations = tuple(f.str_list("locations", []))
    f.done()
    return Alerting(quorum, locations)


def _check_relations(checks: list[Check], file: str, run_timeout_s: float | None) -> None:
    """What only the whole list can tell: run_timeout_s fits every check, depends_on names
    configured checks and has no cycle."""
    names = {c.name for c in checks}
    for i, c in enumerate(checks):
        where = f'checks[{i}] "{c.name}"'
        # The first attempt and the retry delays must fit; a retry gets what is left of the bound.
        needed = c.timeout_s + c.retries * c.retry_delay_s
        if run_timeout_s is not None and needed > run_timeout_s:
            raise ConfigError(file, where, "timeout_s",
                              f"{c.timeout_s:g} s plus {c.retries} x retry_delay_s {c.retry_delay_s:g} s is "
                              f"{needed:g} s, longer than run_timeout_s {run_timeout_s:g}")
        for dep in c.depends_on:
            if dep not in names:
                raise ConfigError(file, where, "depends_on", f"unknown check {dep!r}")
            if dep == c.name:
                raise ConfigError(file, where, "depends_on", "a check cannot depend on itself")
    graph = {c.name: c.depends_on for c in checks}
    for i, c in enumerate(checks):
        path = _cycle(c.name, graph)
        if path:
            raise ConfigError(file, f'checks[{i}] "{c.name}"', "depends_on",
                              "dependency cycle: " + " -> ".join(path))


def _cycle(start: str, graph: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A depends_on path from `start` back to itself, or [] when there is none."""
    stack: list[tuple[str, list[str]]] = [(dep, [start, dep]) for dep in graph.get(start, ())]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == start:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((dep, [*path, dep]) for dep in graph.get(node, ()))
    return []


def check_dsns(cfg: Config) -> None:
    """Raise ConfigError for a postgres `dsn` that libpq cannot parse.

    Not part of `load`: parsing needs psycopg (~175 ms of import, paid on every Cloud Run cold
    start), so `synthmon validate` and `synthmon probe` call it and the service finds such a DSN
    when the check runs (class `internal`). libpq's own message is not repeated: it may quote part
    of the password.
    """
    dsns = [(i, c.name, c.dsn) for i, c in enumerate(cfg.checks)
            if isinstance(c, checks_mod.PostgresCheck) and c.dsn]
    if not dsns:
        return
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    for i, name, dsn in dsns:
        try:
            conninfo_to_dict(dsn)
        except psycopg.Error:
            raise ConfigError(cfg.path, f'checks[{i}] "{name}"', "dsn",
                              "libpq cannot parse it: check the quoting, the option names and the URL syntax") from None


class EnvStr(str):
    """A value that is exactly one `${VAR}`: numeric and boolean fields may read it as such."""


class _Env:
    def __init__(self, environ: Mapping[str, str], refs: list[tuple[str, str | None, str | None]]) -> None:
        self.environ, self.refs = environ, refs


def _interpolate(node: Any, file: str, where: str, path: str, environ: _Env,
                 secrets: set[str]) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; `where` names the check being walked."""
    if isinstance(node, dict):
        return {k: _interpolate(v, file, where, f"{path}.{k}" if path else str(k), environ, secrets)
                for k, v in node.items()}
    if isinstance(node, list):
        if path == "checks" and not where:
            return [_interpolate(v, file, _check_where(i, v), "", environ, secrets) for i, v in enumerate(node)]
        return [_interpolate(v, file, where, f"{path}[{i}]", environ, secrets) for i, v in enumerate(node)]
    if not isinstance(node, str) or "__synthmon_ref_" not in node:
        return node

    def sub(m: re.Match[str]) -> str:
        index = int(m.group(1))
        if index >= len(environ.refs):
            return m.group(0)
        var, fallback, literal = environ.refs[index]
        if literal is not None:  # $${X} is a literal ${X}
            return literal
        value = environ.environ.get(var)
        if value is None:
            if fallback is None:
                raise ConfigError(file, where, path, f"environment variable {var} is not set")
            value = fallback
        if _SECRET_VAR.search(var):
            secrets.add(value)
        return value

    whole = _REF.fullmatch(node)
    value = _REF.sub(sub, node)
    if whole and int(whole.group(1)) < len(environ.refs) and environ.refs[int(whole.group(1))][2] is None:
        return EnvStr(value)
    return value


def _check_where(i: int, raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f'checks[{i}] "{raw["name"]}"'
    return f"checks[{i}]"


def _sinks(raw: Mapping[str, Any], file: str) -> Sinks:
    f = Fields(raw, file, "", "sinks.")
    metrics = f.str_list("metrics", ["local"], choices=METRIC_SINKS)
    alerts = f.str_list("alerts", ["local"], choices=ALERT_SINKS)
    project_id = f.opt_str("project_id")
    alert_topic = f.str("alert_topic", "synthmon-alerts")
    state = f.str("state", "sqlite:///.synthmon/state.db")
    results_file = f.str("results_file", ".synthmon/results.jsonl")
    alerts_file = f.str("alerts_file", ".synthmon/alerts.jsonl")
    job = f.str("job", "synthmon")
    history_days = f.number("history_days", 30, lo=1, hi=400, integer=True)
    history = f.opt_str("history")
    f.done()
    for key, url in (("state", state), ("history", history)):
        if url is not None and not (url.startswith(("sqlite:///", "firestore://")) or url == "memory://"):
            raise ConfigError(file, "", f"sinks.{key}", f"unsupported {key} store {url!r} "
                              "(sqlite:///PATH, firestore://DB/COLLECTION, memory://)")
    needs_project = ("cloud_monitoring" in metrics or "pubsub" in alerts or state.startswith("firestore://")
                     or (history or "").startswith("firestore://"))
    if needs_project and not project_id:
        raise ConfigError(file, "", "sinks.project_id", "required by cloud_monitoring, pubsub or firestore")
    return Sinks(tuple(metrics), tuple(alerts), project_id, alert_topic, state, results_file, alerts_file, job,
                 history_days, history)


def _window(raw: Any, i: int, file: str, names: set[str]) -> MaintenanceWindow:
    f = Fields(raw, file, f"maintenance[{i}]", "")
    checks = f.str_list("checks", [])
    start, end = f.timestamp("start"), f.timestamp("end")
    reason = f.str("reason", "")
    f.done()
    for c in checks:
        if c not in names:
            raise ConfigError(file, f"maintenance[{i}]", "checks", f"unknown check {c!r}")
    if end <= start:
        raise ConfigError(file, f"maintenance[{i}]", "end", "must be after start")
    return MaintenanceWindow(tuple(checks), start, end, reason)
