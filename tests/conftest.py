from fakes.emulators import firestore_emulator, pubsub_emulator  # noqa: F401
from fakes.pubsub_backend import fake_pubsub, pubsub_backend  # noqa: F401
from pgserver import pg_proxy, pg_server  # noqa: F401
