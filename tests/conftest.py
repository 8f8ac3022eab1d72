import sys
from pathlib import Path

# The demo target is an example beside its config, not part of the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from fakes.emulators import firestore_emulator, pubsub_emulator  # noqa: F401
from fakes.pubsub_backend import fake_pubsub, pubsub_backend  # noqa: F401
from pgserver import pg_proxy, pg_server  # noqa: F401
