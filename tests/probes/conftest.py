"""The demo target (examples/demo_target.py) for the probes that log in and open the chat socket,
and one trustme CA per module for the TLS probes."""

from __future__ import annotations

from collections.abc import Iterator

import demo_target as demo
import pytest
from servers import Tls


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


@pytest.fixture(scope="module")
def tls() -> Tls:
    """A CA and loopback certificates (trustme), one per test module."""
    return Tls()


@pytest.fixture(scope="module")
def ca_file(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The module's CA as a PEM file, for a check's `ca_file`."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(path))
    return str(path)
