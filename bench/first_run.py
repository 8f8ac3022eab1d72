"""The first run that builds the Google clients: `POST /run` right after start with the Cloud Monitoring
metric sink and the Pub/Sub alert sink, against a loopback gRPC server that accepts every call
(MONITORING_EMULATOR_HOST / PUBSUB_EMULATOR_HOST), compared with the second run.
"""

from __future__ import annotations

import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any

from bench.configs import write_config
from bench.memory import fleet
from bench.service import Service
from bench.target import Target


def _accept_all() -> tuple[Any, int]:
    """A gRPC server answering every unary call with an empty message (valid for Empty and most replies)."""
    import grpc

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(lambda request, context: b"")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def run(target: Target, checks: int) -> dict[str, Any]:
    server, port = _accept_all()
    try:
        with tempfile.TemporaryDirectory(prefix="synthmon-bench-first-", dir="/var/tmp") as tmp:
            directory = Path(tmp)
            sinks = {"metrics": ["cloud_monitoring"], "alerts": ["pubsub"], "project_id": "bench-project",
                     "state": f"sqlite:///{directory / 'state.db'}"}
            config = write_config(directory / "synthmon.yaml", fleet(target, checks), location="us-central1",
                                  run_timeout_s=30, sinks=sinks)
            host = f"127.0.0.1:{port}"
            svc = Service(config, directory, {"MONITORING_EMULATOR_HOST": host, "PUBSUB_EMULATOR_HOST": host})
            try:
                walls = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    report = svc.get("/probe")
                    walls.append((time.perf_counter() - t0) * 1000)
                return {"checks": checks, "first_run_ms": walls[0], "later_runs_ms": walls[1:],
                        "all_ok": all(r["ok"] for r in report["results"]),
                        "rss_after_mib": svc.rss_mib()}
            finally:
                svc.close()
    finally:
        server.stop(None)
