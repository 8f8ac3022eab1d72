"""The `synthmon` command: probe, serve, validate, report, demo (README "Command line")."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from monitor import config as config_mod
from monitor import logs

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthmon", description="Synthetic monitor for a staging environment.")
    sub = p.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("probe", help="run checks now and print the report")
    probe.add_argument("--config", help="config file (default $SYNTHMON_CONFIG, then ./synthmon.yaml)")
    probe.add_argument("--only", action="append", metavar="NAME", help="run only this check (repeatable)")
    probe.add_argument("--format", choices=("table", "json"), default="table")
    probe.add_argument("--no-publish", action="store_true", help="do not publish metrics or alerts")
    serve = sub.add_parser("serve", help="serve the HTTP API (/run, /probe, /status, /metrics, /healthz)")
    serve.add_argument("--config")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--every", type=float, metavar="SECONDS", help="run due checks every N seconds")
    validate = sub.add_parser("validate", help="load and validate the config")
    validate.add_argument("--config")
    report = sub.add_parser("report", help="availability report of a period, from the recorded history")
    report.add_argument("--config")
    report.add_argument("--since", default="7d", help="7d, 24h, 90m, epoch seconds or ISO 8601 (default 7d)")
    report.add_argument("--format", choices=("md", "json"), default="md")
    demo = sub.add_parser("demo", help="start the bundled demo target and serve the monitor against it")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--target-port", type=int, default=8081)
    demo.add_argument("--every", type=float, default=15.0)
    return p


def _load(path: str | None) -> config_mod.Config:
    return config_mod.load(path or config_mod.default_path())


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "validate":
            cfg = _load(args.config)
            config_mod.check_dsns(cfg)
            print(f"{cfg.path}: ok, {len(cfg.checks)} checks ({', '.join(cfg.check_names)})")
            return EXIT_OK
        if args.command == "probe":
            return _probe(args)
        if args.command == "report":
            return _report(args)
        if args.command == "serve":
            from monitor.serve import serve

            return serve(_load(args.config), host=args.host, port=args.port, every_s=args.every)
        if args.command == "demo":
            from monitor.serve import demo

            return demo(port=args.port, target_port=args.target_port, every_s=args.every)
    except config_mod.ConfigError as exc:
        print(f"synthmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _probe(args: argparse.Namespace) -> int:
    from monitor.pipeline import Monitor
    from probes.redact import Redactor

    cfg = _load(args.config)
    config_mod.check_dsns(cfg)
    # stdout carries only the report; logs go to stderr.
    logs.setup(sys.stderr, logging.WARNING, redact=Redactor(cfg.secrets))
    monitor = Monitor(cfg)
    try:
        names = monitor.select(args.only)
    except KeyError as exc:
        print(f"synthmon: {cfg.path}: --only: unknown check {exc.args[0]!r} "
              f"(configured: {', '.join(cfg.check_names)})", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = monitor.run(names, publish=not args.no_publish)
    finally:
        monitor.close()
    if args.format == "json":
        print(json.dumps(report.to_dict()))
    else:
        from monitor.table import render

        print(render(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _report(args: argparse.Namespace) -> int:
    """Exit 0 when every golden path (websocket check) passed its last run in the period, else 1."""
    import time

    from monitor import history_stats, report
    from monitor.history import HistoryError, open_history

    cfg = _load(args.config)
    logs.setup(sys.stderr, logging.WARNING)
    now = time.time()
    try:
        since = history_stats.parse_since(args.since, now)
    except ValueError:
        print(f"synthmon: --since {args.since!r}: use 7d, 24h, 90m, epoch seconds or ISO 8601", file=sys.stderr)
        return EXIT_USAGE
    s = cfg.sinks
    hist = open_history(s.history, s.state, s.history_days, s.project_id)
    try:
        doc = report.build(cfg, hist, since, now)
    except HistoryError as exc:
        print(f"synthmon: history unreadable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        hist.close()
    sys.stdout.write(report.render(doc, args.format))
    return EXIT_OK if doc["golden_path_passed"] else EXIT_FAILED
