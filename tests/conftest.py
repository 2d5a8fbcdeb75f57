"""Factory fixtures shared by every test tier (unit, agents, integration)."""

from __future__ import annotations

import pytest

from tests.builders import EventFactory


@pytest.fixture
def events() -> EventFactory:
    """Builds ticket events with fresh event ids: ``events.created()``, ``events.event(type, at, **fields)``."""
    return EventFactory()
