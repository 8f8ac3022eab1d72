from pgserver import pg_proxy, pg_server  # noqa: F401
