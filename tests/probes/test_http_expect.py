"""The HTTP body expectations as a pure function: the first unmet one, as the assertion message."""

from __future__ import annotations

import re

import pytest

from probes.checks import HttpExpect
from probes.http_expect import body_problem

DOC = '{"status": "healthy", "checks": {"postgresql": {"status": "ok"}}, "items": [1, {"id": "b"}]}'


@pytest.mark.parametrize(("expect", "problem"), [
    (HttpExpect(), None),
    (HttpExpect(json=(("status", "healthy"), ("checks.postgresql.status", "ok"))), None),
    (HttpExpect(json=(("items.0", 1), ("items.-1.id", "b"))), None),
    (HttpExpect(json=(("checks.redis.status", "ok"),)), "JSON path checks.redis.status not found"),
    (HttpExpect(json=(("items.2", 1),)), "JSON path items.2 not found"),
    (HttpExpect(json=(("items.²", 1),)), "JSON path items.² not found"),
    (HttpExpect(json=(("status", "ok"),)), 'JSON path status is "healthy", expected "ok"'),
    (HttpExpect(json=(("checks", 1),)),
     'JSON path checks is {"postgresql": {"status": "ok"}}, expected 1'),
    (HttpExpect(body_contains="healthy", body_not_contains="unhealthy"), None),
    (HttpExpect(body_contains="degraded"), "body does not contain 'degraded'"),
    (HttpExpect(body_not_contains="postgresql"), "body contains 'postgresql'"),
    (HttpExpect(body_regex=re.compile(r'"id": "\d+"')), 'body does not match /"id": "\\d+"/'),
    # The first unmet expectation wins, in a fixed order: contains, not_contains, regex, json.
    (HttpExpect(body_contains="x-missing", json=(("status", "ok"),)), "body does not contain 'x-missing'"),
])
def test_body_problem(expect: HttpExpect, problem: str | None) -> None:
    assert body_problem(expect, DOC) == problem


def test_not_json() -> None:
    expect = HttpExpect(json=(("status", "ok"),))
    assert body_problem(expect, "<html>503</html>") == "body is not JSON"
    assert body_problem(expect, "[" * 100_000) == "body is not JSON (nested too deeply)"


def test_long_values_are_clipped() -> None:
    """A long value is cut to 80 characters with a mark, so a huge body never becomes the message."""
    problem = body_problem(HttpExpect(json=(("a", "short"),)), '{"a": "' + "x" * 500 + '"}')
    assert problem is not None and problem.startswith('JSON path a is "xxx') and problem.endswith('…, expected "short"')
    assert len(problem) < 130
