"""Ctrl-C and SIGTERM as an asyncio event: long-running commands stop cleanly when it is set."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals(event: asyncio.Event | None = None) -> asyncio.Event:
    """Set ``event`` (a new one if None) on SIGINT or SIGTERM; call inside the running loop."""
    event = event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
