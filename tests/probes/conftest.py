"""The demo target (examples/demo_target.py) for the probes that log in and open the chat socket."""

from __future__ import annotations

from collections.abc import Iterator

import demo_target as demo
import pytest


@pytest.fixture(scope="module")
def server() -> Iterator[demo.DemoTarget]:
    """One demo target per test module, events 2 ms apart."""
    target = demo.start(spacing_s=0.002)
    yield target
    target.stop()


@pytest.fixture()
def target(server: demo.DemoTarget) -> Iterator[demo.DemoTarget]:
    """The module's demo target, healthy before and after the test."""
    server.set_fault()
    yield server
    server.set_fault()
