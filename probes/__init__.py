"""One module per probe type; each turns one validated check into one ProbeResult."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from probes.result import ProbeResult

ProbeFn = Callable[[Any], Awaitable[ProbeResult]]

# Probe type → the module exporting its `probe`. Modules are imported on first use, so an
# HTTP-only run never pays for websockets or psycopg (cold start is part of the product).
PROBES: dict[str, str] = {"http": "probes.http", "websocket": "probes.websocket", "postgres": "probes.postgres",
                          "dns": "probes.dns"}


def registry(kinds: Iterable[str] | None = None) -> dict[str, ProbeFn]:
    """Probe functions for the given types (all types when None)."""
    wanted = PROBES if kinds is None else {k: PROBES[k] for k in kinds}
    return {kind: importlib.import_module(module).probe for kind, module in wanted.items()}
