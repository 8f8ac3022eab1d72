"""Checks and configs for the benchmarks, built through synthmon's real config loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor import config as config_mod


def document(checks: list[dict[str, Any]], **top: Any) -> str:
    return yaml.safe_dump({"checks": checks, **top}, sort_keys=False)


def make_config(checks: list[dict[str, Any]], **top: Any) -> config_mod.Config:
    return config_mod.loads(document(checks, **top), "bench.yaml", {})


def make_check(spec: dict[str, Any], **top: Any) -> Any:
    return make_config([spec], **top).checks[0]


def write_config(path: Path, checks: list[dict[str, Any]], **top: Any) -> Path:
    """A config file that the service loads; validated here first, so a mistake fails before any start."""
    text = document(checks, **top)
    config_mod.loads(text, str(path), {})
    path.write_text(text)
    return path


def local_sinks(directory: Path) -> dict[str, Any]:
    """Local metric and alert sinks with their state under `directory` (nothing leaves the machine)."""
    return {"metrics": ["local"], "alerts": ["local"], "state": f"sqlite:///{directory / 'state.db'}",
            "results_file": str(directory / "results.jsonl"), "alerts_file": str(directory / "alerts.jsonl")}


def http_fleet(urls: list[str], ca_file: str, prefix: str = "c", **extra: Any) -> list[dict[str, Any]]:
    """One HTTP check per URL, named prefix-0, prefix-1, ..."""
    return [{"name": f"{prefix}-{i}", "type": "http", "url": url, "ca_file": ca_file, **extra}
            for i, url in enumerate(urls)]
