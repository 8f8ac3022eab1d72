"""Load and validate synthmon.yaml once: `${VAR}` interpolation, defaults, unknown keys rejected.

A config that loads is fully checked: every later part may trust its types and ranges. A config that
does not load raises one ConfigError holding every problem found, each with its line and column.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_core import SchemaValidator, ValidationError

from monitor import regions, yamldoc
from monitor.maintenance import MaintenanceWindow, window
from monitor.schema import build, errors
from monitor.schema.document import CHECKS, TOP, WINDOWS
from monitor.schema.errors import Problem
from monitor.yamldoc import YamlError
from probes import checks as checks_mod
from probes.checks import Check, Defaults

__all__ = ["Alerting", "Config", "ConfigError", "MaintenanceWindow", "Sinks", "check_dsns", "default_path",
           "load", "loads"]


class ConfigError(Exception):
    """Config problems, located: `file:line:column: checks[2] "name": field: what is wrong`, one per line.

    `errors` holds every problem; `where`, `field` and `problem` are the first one's.
    """

    def __init__(self, file: str, where: str = "", field: str = "", problem: str = "", *,
                 errors: tuple[Problem, ...] = ()) -> None:
        self.file = file
        self.errors = tuple(sorted(errors, key=_order)) or (Problem(None, None, where, field, problem),)
        first = self.errors[0]
        self.where, self.field, self.problem = first.where, first.field, first.problem
        super().__init__("\n".join(e.format(file) for e in self.errors))


def _order(p: Problem) -> tuple[int, int]:
    return (p.line or 0, p.column or 0)


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
    """Validate a config document; every problem found is in the one ConfigError raised."""
    try:
        doc = yamldoc.parse(text, {} if environ is None else environ)
    except YamlError as exc:
        raise ConfigError(name, errors=(Problem(exc.line, exc.column, "", "", exc.problem),)) from None
    problems = [errors.locate(doc, path, problem) for path, problem in doc.problems]
    if doc.data is None:
        problems.append(errors.locate(doc, (), "the config is empty: it needs at least one check under checks:"))
        raise ConfigError(name, errors=tuple(problems))
    top = _valid(TOP, doc.data, (), doc, problems)
    raw = doc.data if isinstance(doc.data, dict) else {}
    raw_checks: list[Any] = raw["checks"] if isinstance(raw.get("checks"), list) else []
    raw_windows: list[Any] = raw["maintenance"] if isinstance(raw.get("maintenance"), list) else []
    # References are checked against every check written, also those that have a problem of their own.
    names = {c["name"] for c in raw_checks if isinstance(c, dict) and isinstance(c.get("name"), str)}
    ctx = build.Context(base_dir or Path("."), build.defaults((top or {}).get("defaults")), doc.secrets, [])
    checks: list[tuple[int, Check]] = []
    for i, item in enumerate(raw_checks):
        valid = _valid(CHECKS, item, ("checks", i), doc, problems)
        built = build.check(valid, ("checks", i), ctx) if valid is not None else None
        if built is not None:
            checks.append((i, built))
    windows = []
    for i, item in enumerate(raw_windows):
        valid = _valid(WINDOWS, item, ("maintenance", i), doc, problems)
        w = window(valid, ("maintenance", i), names, ctx.problems) if valid is not None else None
        if w is not None:
            windows.append(w)
    location = str((top or {}).get("location") or "local")
    if top is not None:
        if not raw_checks:
            ctx.problems.append((("checks",), "must list at least one check"))
        sinks = _sinks(top.get("sinks"), location, ctx.problems)
        _check_relations(checks, names, top.get("run_timeout_s"), ctx.problems)
    problems += [errors.locate(doc, path, problem) for path, problem in ctx.problems]
    if problems or top is None:
        raise ConfigError(name, errors=tuple(_unmasked(problems)))
    a = top.get("alerting") or {}
    alerting = Alerting(a.get("quorum"), a.get("locations") or ())
    return Config(name, location, top.get("run_timeout_s"), sinks, ctx.defaults, tuple(c for _, c in checks),
                  tuple(windows), frozenset(s for s in ctx.secrets if len(s) >= 4), alerting)


def _valid(validator: SchemaValidator, value: Any, path: tuple[Any, ...], doc: yamldoc.Document,
           problems: list[Problem]) -> Any:
    """`value` validated, or None with its problems (located under `path`) added to `problems`."""
    try:
        return validator.validate_python(value)
    except ValidationError as exc:
        problems += errors.translate(doc, exc, path)
        return None


def _unmasked(problems: list[Problem]) -> list[Problem]:
    """Drop what follows from an unset `${VAR}` (the empty value it left), keeping the problem that names it."""
    unset = {(p.where, p.field) for p in problems if p.problem.startswith("environment variable ")}
    return [p for p in problems if p.problem.startswith("environment variable ") or (p.where, p.field) not in unset]


# Environment variables whose values are secrets wherever they are used (Terraform's variable
# validation repeats the pattern).
_SECRET_VAR = yamldoc.SECRET_VAR

_STATE_STORES = "sqlite:///PATH, firestore://DB/COLLECTION, memory://"


def _store_ok(url: str) -> bool:
    return url.startswith(("sqlite:///", "firestore://")) or url == "memory://"


def _sinks(raw: dict[str, Any] | None, location: str, problems: list[tuple[Any, str]]) -> Sinks:
    given = {k: v for k, v in (raw or {}).items() if v is not None}
    given.update(project_id=given.get("project_id") or None, history=given.get("history") or None)  # "": absent
    sinks = Sinks(**given)
    for key in ("state", "history"):
        url = getattr(sinks, key)
        if url is not None and not _store_ok(url):
            problems.append((("sinks", key), f"unsupported state store {url!r} ({_STATE_STORES})"))
    firestore = any((u or "").startswith("firestore://") for u in (sinks.state, sinks.history))
    if ("cloud_monitoring" in sinks.metrics or "pubsub" in sinks.alerts or firestore) and not sinks.project_id:
        problems.append((("sinks", "project_id"), "required by cloud_monitoring, pubsub or firestore"))
    if "cloud_monitoring" in sinks.metrics and location not in regions.REGIONS:
        problems.append((("location",), f"{location!r} is not a Google Cloud region (e.g. us-central1), "
                                        "which cloud_monitoring needs as the metrics' location"))
    return sinks


def _check_relations(checks: list[tuple[int, Check]], names: set[str], run_timeout_s: float | None,
                     problems: list[tuple[Any, str]]) -> None:
    """What only the whole list can tell: names are unique, run_timeout_s fits every check,
    depends_on names configured checks and has no cycle. `checks` are (index in the document, check)."""
    seen: set[str] = set()
    for i, c in checks:
        if c.name in seen:
            problems.append((("checks", i, "name"), "duplicate check name"))
        seen.add(c.name)
        # The first attempt and the retry delays must fit; a retry gets what is left of the bound.
        needed = c.timeout_s + c.retries * c.retry_delay_s
        if run_timeout_s is not None and needed > run_timeout_s:
            problems.append((("checks", i, "timeout_s"),
                             f"{c.timeout_s:g} s plus {c.retries} x retry_delay_s {c.retry_delay_s:g} s is "
                             f"{needed:g} s, longer than run_timeout_s {run_timeout_s:g}"))
        for j, dep in enumerate(c.depends_on):
            if dep not in names:
                problems.append((("checks", i, "depends_on", j), f"unknown check {dep!r}"))
            elif dep == c.name:
                problems.append((("checks", i, "depends_on", j), "a check cannot depend on itself"))
    graph = {c.name: c.depends_on for _, c in checks}
    cycles: set[frozenset[str]] = set()
    for i, c in checks:
        path = _cycle(c.name, graph)
        if len(path) > 2 and frozenset(path) not in cycles:  # one problem per cycle, at its first check
            cycles.add(frozenset(path))
            problems.append((("checks", i, "depends_on"), "dependency cycle: " + " -> ".join(path)))


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
