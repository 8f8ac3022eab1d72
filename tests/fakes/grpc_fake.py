"""A loopback gRPC server for one service, built from generic handlers and proto-plus message classes."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc


class FakeService:
    """Serves `methods` {name: (request class, handler)}; `fail(method, *codes)` queues error replies."""

    def __init__(self, service: str, methods: Mapping[str, tuple[Any, Callable[[Any], Any]]]) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, Any]] = []
        self._errors: dict[str, collections.deque[grpc.StatusCode]] = collections.defaultdict(collections.deque)
        handlers = {name: grpc.unary_unary_rpc_method_handler(
            self._wrap(name, fn), request_deserializer=req.deserialize,
            response_serializer=_serialize) for name, (req, fn) in methods.items()}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.host = f"127.0.0.1:{self.port}"
        self.server.start()

    def fail(self, method: str, *codes: grpc.StatusCode) -> None:
        with self.lock:
            self._errors[method].extend(codes)

    def heal(self) -> None:
        """Drop the error replies still queued."""
        with self.lock:
            self._errors.clear()

    def calls_to(self, method: str) -> list[Any]:
        with self.lock:
            return [req for name, req in self.calls if name == method]

    def _wrap(self, name: str, fn: Callable[[Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self.lock:
                self.calls.append((name, request))
                code = self._errors[name].popleft() if self._errors[name] else None
            if code is not None:
                context.abort(code, f"injected {code.name}")
            try:
                return fn(request)
            except Abort as exc:
                if exc.details:
                    context.abort_with_status(exc.status())
                context.abort(exc.code, exc.message)

        return handle

    def stop(self) -> None:
        self.server.stop(grace=None).wait()


class Abort(Exception):
    """Raised by a handler to answer with a gRPC status; `details` (protobuf messages) travel in
    `grpc-status-details-bin`, as google.rpc.Status details, the way Google APIs send them."""

    def __init__(self, code: grpc.StatusCode, message: str = "", details: Sequence[Any] = ()) -> None:
        super().__init__(message or code.name)
        self.code, self.message, self.details = code, message or code.name, list(details)

    def status(self) -> Any:
        from google.protobuf import any_pb2
        from google.rpc import status_pb2
        from grpc_status import rpc_status

        packed = []
        for d in self.details:
            a = any_pb2.Any()
            a.Pack(d)
            packed.append(a)
        return rpc_status.to_status(status_pb2.Status(code=self.code.value[0], message=self.message,
                                                      details=packed))


def _serialize(message: Any) -> bytes:
    if hasattr(message, "SerializeToString"):
        return message.SerializeToString()
    return type(message).serialize(message)
