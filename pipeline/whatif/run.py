"""Judge a period's records under one or more policies with the pure core: no Faust, no Kafka, nothing written.

Each partition's records go through a :class:`~pipeline.processing.processor.Processor` in order, with
the event-time clock, as a worker in event mode would judge them. Partitions are independent (a
partition's clock moves only with its own records), so they are split among ``processes`` worker
processes and the result does not depend on how many there are. After its last record each partition's
clock is moved to the horizon (the latest instant of the records given, over every partition) by
heartbeats, so deadlines that passed after a partition's last event are decided the same way whichever
partition a ticket landed on.

For speed the processor gets a store that keeps :class:`TicketState` objects (no bytes per event), a
metrics bundle that counts nothing, and positions that call every record committed (outboxes stay
empty). The outputs (outcome and escalation records, decoded) are those a worker would publish.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from pipeline.domain.clock import EventPartitionClock, ManualClock
from pipeline.domain.policy import Policy
from pipeline.domain.ticket import TicketState
from pipeline.domain.timefmt import format_rfc3339_ms
from pipeline.processing.io import DeadLetter, Emit, Record
from pipeline.processing.memory import MemoryStore
from pipeline.processing.processor import Processor

ORPHAN_TIMEOUT_MS = 600_000  # the worker's default (SLA_ORPHAN_TIMEOUT_SECONDS)
PROGRESS_EVERY = 5_000  # records between two progress reports of a worker process
Progress = Callable[[int, int], None]  # (records judged, records to judge), over every policy
Partitions = dict[int, list[Record]]


@dataclasses.dataclass
class Judged:
    """What one policy decided over the records: the records a worker would have published, decoded."""

    policy: str  # the policy's digest
    outcomes: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    records: int  # records judged
    rejected: dict[str, int]  # DLQ reason -> records


# --- the processor's collaborators, made for speed ------------------------------------------------

class _Nothing:
    """A metric family, child, gauge or histogram that counts nothing."""

    def labels(self, **_: str) -> _Nothing:
        return self

    def inc(self, *_: Any, **__: Any) -> None:
        return None

    observe = set = inc


class NoMetrics:
    """Stands for :class:`pipeline.metrics.Metrics` where nothing is exported: every attribute counts nothing."""

    _nothing = _Nothing()

    def __getattr__(self, name: str) -> _Nothing:
        return self._nothing

    def observe_state(self, view: object) -> None:
        return None


class _NoCounting:
    """The processor's counters, counting nothing (a tenth of its time per record)."""

    def record(self, *_: Any) -> None:
        return None


class _NoWindows:
    """The processor's rolling outcome windows, kept for gauges nobody reads here."""

    def add(self, *_: Any) -> tuple:
        return ()

    add_group = expire = add

    def clear(self) -> None:
        return None

    def load(self, rows: Any) -> None:
        return None


class _NoBoard:
    """The processor's index of open tickets for the NOC board, which nobody reads here."""

    def index(self, state: TicketState) -> None:
        return None

    forget = index

    def clear(self) -> None:
        return None

    def unanswered(self) -> int:
        return 0


def quiet_processor(policy: Policy, wall: ManualClock, orphan_timeout_ms: int = ORPHAN_TIMEOUT_MS,
                    lateness_ms: int = 0) -> Processor:
    """The worker's processor in event-time mode, without what only feeds metrics and boards: its counters,
    its outcome windows and its board of open tickets (a fifth of its time per record). What it decides
    and publishes is the worker's (tests/unit/test_whatif.py compares them over a simulated week)."""
    proc = Processor(clock=EventPartitionClock(wall, lateness_ms), wall=wall, metrics=NoMetrics(),  # type: ignore[arg-type]
                     policy=policy, orphan_timeout_ms=orphan_timeout_ms, events_topic="tickets.events",
                     positions=AllCommitted())
    proc.count = _NoCounting()  # type: ignore[assignment]
    proc.windows = proc.contract_windows = _NoWindows()  # type: ignore[assignment]
    proc.open = _NoBoard()  # type: ignore[assignment]
    return proc


class AllCommitted:
    """Every record counts as committed: outboxes are pruned at once (nothing is published again)."""

    def committed(self, source: int, partition: int) -> int | None:
        return 2**62


# --- judging ------------------------------------------------------------------------------------------

def horizon_of(partitions: Partitions) -> int | None:
    """The latest record timestamp over every partition: where every partition's clock ends."""
    return max((r.timestamp_ms for recs in partitions.values() for r in recs if r.timestamp_ms is not None),
               default=None)


def _heartbeats(partition: int, high: int | None, horizon: int, step_ms: int) -> Iterator[Record]:
    """Heartbeats moving a partition's clock from ``high`` to ``horizon``, each at most ``step_ms`` ahead."""
    if high is None or step_ms <= 0:
        return
    n = 0
    while high < horizon:
        high = min(horizon, high + step_ms)
        value = orjson.dumps({"event_id": f"whatif-horizon-{partition}-{n}", "type": "heartbeat",
                              "occurred_at": format_rfc3339_ms(high)})
        yield Record("whatif.horizon", partition, -1 - n, None, value, high)
        n += 1


@dataclasses.dataclass(frozen=True)
class Options:
    """How the worker judges: as ``SLA_ORPHAN_TIMEOUT_SECONDS`` and (event mode) ``SLA_ALLOWED_LATENESS_SECONDS``."""

    orphan_timeout_ms: int = ORPHAN_TIMEOUT_MS
    lateness_ms: int = 0


DEFAULTS = Options()


def _judge_partitions(partitions: Partitions, policies: Sequence[Policy], horizon: int,
                      tick: Callable[[int], None], options: Options = DEFAULTS) -> list[Judged]:
    """Every policy over these partitions, one processor per policy and partition; ``tick(n)`` after n records."""
    results = []
    for policy in policies:
        judged = Judged(policy.digest, [], [], 0, {})
        for partition, recs in sorted(partitions.items()):
            # the wall clock stands at the horizon: a partition's first record is judged against it, none is ahead
            proc = quiet_processor(policy, ManualClock(horizon), options.orphan_timeout_ms, options.lateness_ms)
            store = MemoryStore(objects=True)
            since = 0
            for record in recs:
                _collect(judged, proc.handle(record, store))
                since += 1
                if since == PROGRESS_EVERY:
                    tick(since)
                    since = 0
            tick(since)
            judged.records += len(recs)
            high = proc.clock.now(partition)
            late = options.lateness_ms  # the clock stands that far behind its records: end it at the horizon itself
            for beat in _heartbeats(partition, None if high is None else high + late, horizon + late,
                                    policy.event_future_ms):
                _collect(judged, proc.handle(beat, store))
        results.append(_merge([judged]))
    return results


def _collect(judged: Judged, outputs: list) -> None:
    for out in outputs:
        if isinstance(out, Emit):
            if out.topic == "outcomes":
                judged.outcomes.append(orjson.loads(out.value))
            elif out.topic == "escalations":
                judged.escalations.append(orjson.loads(out.value))
        elif isinstance(out, DeadLetter):
            judged.rejected[out.reason] = judged.rejected.get(out.reason, 0) + 1


def _child(partitions: Partitions, policies: Sequence[Policy], horizon: int, options: Options, out: Any) -> None:
    """A worker process: judge its partitions, report progress as it goes, then the result."""
    try:
        out.put(("result", _judge_partitions(partitions, policies, horizon, lambda n: out.put(("done", n)), options)))
    except BaseException as exc:  # noqa: BLE001 - the parent must hear of it, not wait forever
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def split(partitions: Partitions, processes: int) -> list[Partitions]:
    """Partitions dealt to at most ``processes`` groups, the largest first to the group with least to do."""
    groups: list[Partitions] = [{} for _ in range(max(1, min(processes, len(partitions))))]
    sizes = [0] * len(groups)
    for p in sorted(partitions, key=lambda p: (-len(partitions[p]), p)):
        i = sizes.index(min(sizes))
        groups[i][p] = partitions[p]
        sizes[i] += len(partitions[p])
    return groups


def judge_all(partitions: Partitions, policies: Sequence[Policy], processes: int = 1,
              progress: Progress | None = None, options: Options = DEFAULTS) -> list[Judged]:
    """Each policy's judgement of the records (``partition -> records in offset order``), in that order.

    With ``processes`` > 1 the partitions are split among that many forked worker processes (each judges
    its partitions under every policy); the outputs are merged in partition order, so they are the same
    whatever ``processes`` is."""
    total = sum(len(r) for r in partitions.values()) * len(policies)
    horizon = horizon_of(partitions)
    report = progress or (lambda done, total: None)
    if horizon is None:
        return [Judged(p.digest, [], [], 0, {}) for p in policies]
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        report(done, total)

    groups = split(partitions, processes)
    if len(groups) == 1:
        return _judge_partitions(partitions, policies, horizon, tick, options)
    ctx = multiprocessing.get_context("fork")  # the children inherit the records: nothing is pickled to them
    out = ctx.Queue()
    children = [ctx.Process(target=_child, args=(group, policies, horizon, options, out), daemon=True)
                for group in groups]
    for child in children:
        child.start()
    try:
        parts: list[list[Judged]] = []
        while len(parts) < len(children):
            try:
                kind, value = out.get(timeout=1.0)
            except queue.Empty:
                if any(c.exitcode not in (None, 0) for c in children):
                    raise RuntimeError("a what-if worker process died") from None
                continue
            if kind == "done":
                tick(value)
            elif kind == "result":
                parts.append(value)
            else:
                raise RuntimeError(f"a what-if worker process failed: {value}")
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()
    return [_merge([part[i] for part in parts]) for i in range(len(policies))]


def _merge(parts: list[Judged]) -> Judged:
    """One policy's judgements of disjoint partitions as one, in id order (the same whatever the split)."""
    rejected: dict[str, int] = {}
    for part in parts:
        for reason, n in part.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    outcomes = sorted((o for p in parts for o in p.outcomes), key=lambda o: (o["outcome_id"], o["decided_at"]))
    escalations = sorted((e for p in parts for e in p.escalations), key=lambda e: (e["escalation_id"], e["emitted_at"]))
    return Judged(parts[0].policy, outcomes, escalations, sum(p.records for p in parts), dict(sorted(rejected.items())))


def judge(partitions: Partitions, policy: Policy, processes: int = 1, progress: Progress | None = None,
          options: Options = DEFAULTS) -> Judged:
    """One policy's judgement of the records (see :func:`judge_all`)."""
    return judge_all(partitions, [policy], processes, progress, options)[0]
