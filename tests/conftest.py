"""Factory fixtures shared by every test tier (unit, agents, integration)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.builders import EventFactory

# Property tests draw the same examples on every run (a run that fails by the luck of the draw is a defect of
# the suite): `HYPOTHESIS_PROFILE=explore` draws new ones, to look for trouble on purpose.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def events() -> EventFactory:
    """Builds ticket events with fresh event ids: ``events.created()``, ``events.event(type, at, **fields)``."""
    return EventFactory()
