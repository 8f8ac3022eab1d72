"""`synthmon probe` and `validate`: output formats and the exit codes a deploy gate relies on."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml
from servers import Server, serving

from monitor.cli import main


@pytest.fixture(scope="module")
def target() -> Iterator[Server]:
    with serving() as s:
        yield s


def write_config(tmp_path: pathlib.Path, target: Server, *, failing: bool) -> pathlib.Path:
    checks = [{"name": "api", "type": "http", "url": target.url("/ok")}]
    if failing:
        checks.append({"name": "down", "type": "http", "url": target.url("/unavailable")})
    path = tmp_path / "synthmon.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"results_file": str(tmp_path / "results.jsonl")},
                                    "checks": checks}))
    return path


def test_probe_all_pass_exits_0_and_prints_table(tmp_path: pathlib.Path, target: Server,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """All checks pass: exit 0, a table row per check, and the report appended to the results file."""
    cfg = write_config(tmp_path, target, failing=False)
    assert main(["probe", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["CHECK", "TYPE", "RESULT", "LATENCY", "CLASS", "MESSAGE"]
    assert any(line.split()[:3] == ["api", "http", "ok"] for line in out.splitlines())
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["results"][0]["name"] == "api"


def test_probe_failure_exits_1_with_json_report(tmp_path: pathlib.Path, target: Server,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A failing check: exit 1; --format json prints exactly one JSON document, the run report."""
    cfg = write_config(tmp_path, target, failing=True)
    assert main(["probe", "--config", str(cfg), "--format", "json", "--no-publish"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"run_id", "started_at", "finished_at", "location", "ok", "results", "skipped"}
    assert report["ok"] is False
    assert [(r["name"], r["ok"]) for r in report["results"]] == [("api", True), ("down", False)]
    assert report["results"][1]["failure"]["class"] == "unavailable"
    assert not (tmp_path / "results.jsonl").exists()


def test_probe_only_selects(tmp_path: pathlib.Path, target: Server, capsys: pytest.CaptureFixture[str]) -> None:
    """--only runs just the named check, so a failing sibling does not fail the gate."""
    cfg = write_config(tmp_path, target, failing=True)
    assert main(["probe", "--config", str(cfg), "--only", "api", "--format", "json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["results"]] == ["api"]


def test_usage_and_config_errors_exit_2(tmp_path: pathlib.Path, target: Server,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown --only name, invalid config, or bad arguments: exit 2 with a located message."""
    cfg = write_config(tmp_path, target, failing=False)
    assert main(["probe", "--config", str(cfg), "--only", "nope"]) == 2
    assert "--only: unknown check 'nope' (configured: api)" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks:\n  - {name: api, type: http, url: 'http://127.0.0.1/', expect: {stauts: 200}}\n")
    assert main(["probe", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (f'synthmon: {bad}:2:64: checks[0] "api": expect.stauts: '
                                                "unknown key (did you mean 'status'?)")
    assert main(["validate", "--config", str(bad)]) == 2
    assert main(["probe", "--format", "xml"]) == 2


def test_validate_ok(tmp_path: pathlib.Path, target: Server, capsys: pytest.CaptureFixture[str]) -> None:
    """validate loads the config and names its checks."""
    cfg = write_config(tmp_path, target, failing=True)
    assert main(["validate", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip() == f"{cfg}: ok, 2 checks (api, down)"


@pytest.mark.parametrize("dsn", ["host=db port=5432 bogus_option=1 password=Hunter2-dsn-secret",
                                 "host='db password=Hunter2-dsn-secret",
                                 "postgresql://probe:Hunter2-dsn-secret@db/app?no_such_param=1"])
def test_validate_and_probe_reject_a_dsn_libpq_cannot_parse(tmp_path: pathlib.Path, dsn: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A DSN the YAML accepts but libpq cannot parse is a located config error (exit 2), before any
    probe runs, and the message never quotes the DSN."""
    cfg = tmp_path / "synthmon.yaml"
    cfg.write_text(yaml.safe_dump({"checks": [{"name": "web", "type": "http", "url": "http://127.0.0.1:9/"},
                                              {"name": "db", "type": "postgres", "dsn": dsn}]}))
    for command in (["validate"], ["probe", "--no-publish"]):
        assert main([*command, "--config", str(cfg)]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert out.err == (f'synthmon: {cfg}: checks[1] "db": dsn: libpq cannot parse it: check the quoting, '
                           "the option names and the URL syntax\n")


def test_python_m_monitor_is_the_cli(tmp_path: pathlib.Path, target: Server) -> None:
    """`python -m monitor` and $SYNTHMON_CONFIG work as the console script does."""
    cfg = write_config(tmp_path, target, failing=True)
    proc = subprocess.run([sys.executable, "-m", "monitor", "probe", "--format", "json"], capture_output=True,
                          text=True, env={"SYNTHMON_CONFIG": str(cfg), "PATH": "/usr/bin:/bin"}, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["results"][1]["failure"]["class"] == "unavailable"


def test_config_defaults_to_env_then_synthmon_yaml(tmp_path: pathlib.Path, target: Server,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without --config: $SYNTHMON_CONFIG when set, else ./synthmon.yaml."""
    write_config(tmp_path, target, failing=False)
    other = tmp_path / "other"
    other.mkdir()
    from_env = write_config(other, target, failing=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNTHMON_CONFIG", raising=False)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.strip() == "synthmon.yaml: ok, 1 checks (api)"
    monkeypatch.setenv("SYNTHMON_CONFIG", str(from_env))
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.strip() == f"{from_env}: ok, 2 checks (api, down)"
