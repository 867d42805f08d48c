"""Ports on the loopback interface: every test and benchmark publishes and connects on 127.0.0.1 only."""

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port that nothing listens on right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def loopback_url(port: int, scheme: str = "http") -> str:
    """Return the base URL of a service published on 127.0.0.1:port."""
    return f"{scheme}://{LOOPBACK}:{port}"
