"""Local ports: is one free to listen on 127.0.0.1?"""

from __future__ import annotations

import socket


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
