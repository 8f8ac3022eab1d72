"""Loopback stand-ins for Google APIs, served by grpcio and spoken to by the real client libraries."""
