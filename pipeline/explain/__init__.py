"""Explain a ticket's SLA (contract v3 section 12): the contract and calendar chosen and why, each judged clock
with its pauses, target, deadline and outcome, the escalations, and every record with what the worker did with
it, computed by re-folding the ticket's records through the same core that decided.

* :func:`pipeline.explain.fold.explain` (pure) builds an :class:`~pipeline.explain.model.Explanation`;
* :mod:`pipeline.explain.render` gives it as JSON and as an HTML timeline;
* :mod:`pipeline.explain.source` reads a ticket's records from ``tickets.events`` or a JSON-lines file.
"""

from pipeline.explain.fold import explain
from pipeline.explain.model import Explanation

__all__ = ["Explanation", "explain"]
