"""The Firestore state store: one document per check in a collection shared by every region, each
lease and each run's alert step one transaction. The client is built on first use (the Google
client costs cold-start time) and honours FIRESTORE_EMULATOR_HOST; every call gives up within
STORE_TIMEOUT_S, so a store that is down costs a run one bounded wait."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from monitor.alerts import CheckState
from monitor.state import (
    STORE_TIMEOUT_S,
    LeaseRequest,
    StoreError,
    Update,
    UpdateAll,
    UpdateNamed,
    lease_all,
)


class FirestoreStore:
    """One document per check in `collection`; `transact` is a Firestore transaction on it.

    The client is built on first use (google.cloud.firestore costs cold-start time) and honours
    FIRESTORE_EMULATOR_HOST.
    """

    def __init__(self, project_id: str | None, database: str, collection: str,
                 timeout_s: float = STORE_TIMEOUT_S) -> None:
        self.project_id, self.database, self.collection = project_id, database, collection
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    def _coll(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import firestore

                client = firestore.Client(project=self.project_id, database=self.database)
                _bound_calls(client, self.timeout_s)
                self._client = client
            return self._client.collection(self.collection)

    def transact(self, check: str, fn: Update) -> CheckState:
        with _firestore_errors():
            return self._transact(check, fn)

    def transact_many(self, names: Iterable[str], fn: UpdateNamed) -> dict[str, CheckState]:
        """One transaction per check (each a document): contention on one check retries only it."""
        out = {}
        with _firestore_errors():
            for name in names:
                new = self._transact(name, functools.partial(fn, name))
                if new is not None:
                    out[name] = new
        return out

    def _transact(self, check: str, fn: Callable[[CheckState], CheckState | None]) -> Any:
        from google.cloud import firestore

        ref = self._coll().document(check)

        @firestore.transactional
        def apply(txn: Any) -> CheckState | None:
            snap = ref.get(transaction=txn)
            new = fn(CheckState.from_dict(check, snap.to_dict() if snap.exists else None))
            if new is not None:
                txn.set(ref, new.to_dict())
            return new

        return apply(self._client.transaction(max_attempts=10))

    def transact_run(self, names: Iterable[str], fn: UpdateAll) -> dict[str, CheckState]:
        """One Firestore transaction over the checks' documents (each holds every location's entry):
        runs of two regions that overlap serialise, one retried on the other's commit, so they never
        both fire or both resolve one alert."""
        from google.cloud import firestore

        wanted = list(names)
        if not wanted:
            return {}
        with _firestore_errors():
            coll = self._coll()

            @firestore.transactional
            def apply(txn: Any) -> dict[str, CheckState]:
                snaps = {s.id: s for s in txn.get_all([coll.document(n) for n in wanted])}
                states = {n: CheckState.from_dict(n, snaps[n].to_dict() if n in snaps and snaps[n].exists else None)
                          for n in wanted}
                written = fn(dict(states))
                for n, s in written.items():
                    txn.set(coll.document(n), s.to_dict())
                return {**states, **written}

            out: dict[str, CheckState] = apply(self._client.transaction(max_attempts=10))
            return out

    def load_all(self) -> dict[str, CheckState]:
        with _firestore_errors():
            return {d.id: CheckState.from_dict(d.id, d.to_dict()) for d in self._coll().stream()}

    def lease(self, names: Iterable[str], req: LeaseRequest) -> dict[str, str]:
        """The run transaction over the checks' documents: two runs cannot both lease a check."""
        skipped: dict[str, str] = {}
        self.transact_run(names, lease_all(req, skipped))
        return skipped

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:  # firestore.Client has no close(); its channel does
            client._firestore_api.transport.close()


def _bound_calls(client: Any, timeout_s: float) -> None:
    """Make every RPC of `client` give up within `timeout_s`, retries included.

    The generated defaults retry UNAVAILABLE for 60 s (300 s for queries), and the transaction calls
    take no retry argument: a store that refuses connections held a run for five minutes.
    """
    from google.api_core import gapic_v1, retry
    from google.cloud.firestore_v1.services.firestore.transports.base import DEFAULT_CLIENT_INFO

    policy = retry.Retry(initial=0.1, maximum=1.0, multiplier=2.0, timeout=timeout_s,
                         predicate=retry.if_transient_error)
    transport = client._firestore_api._transport
    for method in list(transport._wrapped_methods):
        transport._wrapped_methods[method] = gapic_v1.method.wrap_method(
            method, default_retry=policy, default_timeout=timeout_s, client_info=DEFAULT_CLIENT_INFO)


@contextlib.contextmanager
def _firestore_errors() -> Iterator[None]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    # ValueError: a transaction whose BeginTransaction failed then fails its own rollback with
    # "The transaction has no transaction ID" (google-cloud-firestore 2.x) instead of the API error.
    except (GoogleAPIError, GoogleAuthError, ValueError) as exc:
        raise StoreError(f"firestore: {exc}") from exc
