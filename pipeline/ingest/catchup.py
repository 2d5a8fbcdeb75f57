"""``sla-pipeline ingest catchup --source rt [--ticket N ... | --since ISO]``: publish what RT's scrip may not
have delivered. RT posts each transaction once, synchronously, and never retries: while the gateway is down
those calls are lost. RT keeps every transaction, so this reads a ticket's history over REST 2
(``GET /ticket/N``, ``/ticket/N/history``, ``/transaction/T``, ``/user/U``, ``/queue/Q``), rebuilds for each
transaction the document the scrip (``rt-scrip.pl``) would have posted, maps it with the same adapter and
mapping as the gateway, and publishes the events as the gateway does (key = ticket_id, timestamp =
occurred_at, acks=all, idempotent). The event ids are the webhook's (``rt:<ticket>:<transaction>:<type>``),
so what the gateway did receive is a duplicate downstream, never a second event: running it twice is safe.

The scrip sees the ticket as it is right after each transaction; REST 2 shows it as it is now. Priority,
Owner, Queue and Status as they were are rebuilt from the later transactions that changed them (the first
later change's OldValue); requestors and custom fields are taken as they are now.

RT's user (``SLA_INGEST_RT_USER``, ``SLA_INGEST_RT_PASSWORD_FILE``) needs ShowTicket on the queues and the
right to see users (AdminUsers or SuperUser: a requestor's Privileged flag tells staff from customers).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiohttp
import orjson

from pipeline.domain.events import Rejection, decode
from pipeline.domain.timefmt import TimestampError, format_rfc3339_ms, parse_rfc3339_ms
from pipeline.errors import ConfigError, PipelineError
from pipeline.ingest import mapping
from pipeline.ingest.adapter import Unmappable
from pipeline.ingest.sink import KafkaSink, Record
from pipeline.ingest.sources import rt

log = logging.getLogger(__name__)

PER_PAGE = 100
CONCURRENCY = 4  # requests in flight to RT: RT runs each in one of its few workers
TIMEZONE_SLACK_MS = 24 * 3600 * 1000  # TicketSQL reads dates in the RT user's zone: ask wider, filter exactly
TRACKED = ("Priority", "Owner", "Queue", "Status")  # ticket attributes rebuilt as they were at a transaction
Get = Callable[[str], Awaitable[Any]]  # a REST 2 path (with its query) -> the decoded JSON


def run(args: argparse.Namespace, settings: Any) -> int:
    """The CLI's entry (``settings``: :class:`pipeline.settings.IngestSettings`)."""
    if args.source != "rt":
        raise ConfigError("--source", "only rt has a catch-up (the others retry their webhooks themselves)",
                          args.source)
    if not settings.rt_url or not settings.rt_user:
        missing = "SLA_INGEST_RT_URL" if not settings.rt_url else "SLA_INGEST_RT_USER"
        raise ConfigError(missing, "must be set for the catch-up: it reads RT's REST 2 API")
    since_ms = None
    if args.since is not None:
        try:
            since_ms = parse_rfc3339_ms(args.since)
        except TimestampError as exc:
            raise ConfigError("--since", f"must be an RFC 3339 instant with its offset ({exc})", args.since) from None
    doc, where = mapping.load("rt", settings.mapping_dir)
    m = rt.read_mapping(mapping.Reader(doc, where))

    async def go() -> tuple[int, int]:
        sink = KafkaSink(settings.kafka, settings.topic_events, settings.topic_dlq)
        password = settings.rt_password.reveal() if settings.rt_password is not None else ""
        auth = {"Authorization": aiohttp.encode_basic_auth(settings.rt_user, password)}
        async with aiohttp.ClientSession(headers=auth, timeout=aiohttp.ClientTimeout(total=60)) as session:
            get = rest2_getter(session, settings.rt_url)
            tickets = list(args.ticket or []) or await updated_since(get, since_ms)  # type: ignore[arg-type]
            await sink.start()
            try:
                return await catch_up(get, tickets, m, sink.publish, sink.dead_letter, since_ms)
            finally:
                await sink.stop()

    published, refused = asyncio.run(go())
    print(f"catch-up: {published} events published (repeats are duplicates downstream), "
          f"{refused} transactions refused to {settings.topic_dlq}")
    return 0


def rest2_getter(session: aiohttp.ClientSession, url: str) -> Get:
    base = url.rstrip("/")
    base = base if base.endswith("/REST/2.0") else base + "/REST/2.0"
    gate = asyncio.Semaphore(CONCURRENCY)

    async def get(path: str) -> Any:
        async with gate, session.get(base + path) as response:
            if response.status != 200:
                text = (await response.text())[:200]
                raise PipelineError(f"RT answered {response.status} to GET {base}{path}: {text}")
            return await response.json(content_type=None)

    return get


async def updated_since(get: Get, since_ms: int) -> list[int]:
    """The numbers of the tickets RT changed since then (a day wider: TicketSQL reads the user's time zone)."""
    when = format_rfc3339_ms(since_ms - TIMEZONE_SLACK_MS)[:19].replace("T", " ")
    return sorted({int(item["id"]) async for item in _pages(get, "/tickets", {"query": f"LastUpdated > '{when}'"})})


async def catch_up(get: Get, tickets: Iterable[int], m: rt.Mapping,
                   publish: Callable[[Sequence[Record]], Awaitable[None]],
                   dead_letter: Callable[[Record], Awaitable[None]], since_ms: int | None = None) -> tuple[int, int]:
    """Publish the events of these tickets' transactions (those since ``since_ms``); (events, refused)."""
    published = refused = 0
    for number in tickets:
        records = []
        for doc in await scrip_documents(get, number, since_ms):
            try:
                events = rt.payload_events(doc, m)
                checked = [_record(e) for e in events]
                bad = next((c for c in checked if isinstance(c, Rejection)), None)
                if bad is not None:
                    raise Unmappable(bad.reason, bad.detail)
            except Unmappable as exc:
                log.warning("catch-up: RT transaction %s of ticket %s refused: %s", doc["transaction"]["id"],
                            number, exc)
                await dead_letter(_dead_letter(doc, exc))
                refused += 1
                continue
            records += checked  # type: ignore[arg-type]
        if records:
            await publish(records)  # one ticket at a time: a failure leaves nothing half-said about it
        published += len(records)
    return published, refused


async def scrip_documents(get: Get, number: int, since_ms: int | None = None) -> list[dict[str, Any]]:
    """The documents the scrip would have posted for a ticket's transactions, oldest first."""
    ticket = await get(f"/ticket/{number}")
    ids = [int(item["id"]) async for item in _pages(get, f"/ticket/{number}/history", {})]
    transactions = sorted(await asyncio.gather(*(get(f"/transaction/{i}") for i in ids)), key=lambda t: int(t["id"]))
    users: dict[str, Any] = {}
    queues: dict[str, str] = {}

    async def user(ref: object) -> dict[str, Any] | None:
        key = str(ref)
        if key not in users:
            found = await get("/user/" + urllib.parse.quote(key, safe="@"))
            users[key] = {"id": found.get("Name"), "EmailAddress": found.get("EmailAddress"),
                          "Organization": found.get("Organization") or None,
                          "Privileged": str(found.get("Privileged")) == "1"}
        return users[key]

    async def queue(ref: object) -> str:
        key = str(ref)
        if key not in queues:
            queues[key] = (await get(f"/queue/{key}")).get("Name")
        return queues[key]

    now = {"Priority": ticket.get("Priority"), "Owner": _ref(ticket.get("Owner")),
           "Queue": _ref(ticket.get("Queue")), "Status": ticket.get("Status")}
    requestors = [await user(_ref(r)) for r in ticket.get("Requestor") or []]
    fields = {f["name"]: list(f.get("values") or []) for f in ticket.get("CustomFields") or [] if f.get("values")}
    docs = []
    for index, txn in enumerate(transactions):
        created = txn.get("Created")
        if since_ms is not None and _ms(created) < since_ms:
            continue
        was = {name: _as_of(name, transactions[index + 1:], now[name]) for name in TRACKED}
        doc_txn = {"id": str(txn["id"]), "Type": txn.get("Type"), "Field": txn.get("Field") or None,
                   "OldValue": txn.get("OldValue"), "NewValue": txn.get("NewValue"), "Created": created,
                   "Creator": await user(_ref(txn.get("Creator")))}
        if txn.get("Type") == "Set" and txn.get("Field") == "Owner":
            doc_txn["OldOwner"] = await user(txn.get("OldValue"))
            doc_txn["NewOwner"] = await user(txn.get("NewValue"))
        docs.append({"transaction": doc_txn, "ticket": {
            "id": str(ticket["id"]), "Queue": await queue(was["Queue"]), "Status": was["Status"],
            "Priority": str(was["Priority"]), "Owner": await user(was["Owner"]), "Requestors": requestors,
            "CustomFields": fields, "Created": ticket.get("Created")}})
    return docs


def _as_of(name: str, later: list[dict[str, Any]], now: object) -> object:
    """An attribute right after a transaction: the OldValue of the first later change of it, else its value now."""
    return next((t.get("OldValue") for t in later if t.get("Field") == name and t.get("Type") in ("Set", "Status")),
                now)


async def _pages(get: Get, path: str, query: dict[str, str]) -> Any:
    page, pages = 1, 1
    while page <= pages:
        doc = await get(f"{path}?{urllib.parse.urlencode({**query, 'per_page': PER_PAGE, 'page': page})}")
        for item in doc.get("items") or []:
            yield item
        pages = int(doc.get("pages") or 1)
        page += 1


def _ref(value: Any) -> object:
    """REST 2's reference to a user or queue ({"id": "alice", "type": "user", "_url": ...}) -> its id."""
    return value.get("id") if isinstance(value, dict) else value


def _ms(value: Any) -> int:
    try:
        return parse_rfc3339_ms(value)
    except (TimestampError, TypeError):
        return 0


def _record(item: dict[str, Any]) -> Record | Rejection:
    """As the gateway produces it: key = ticket_id, timestamp = occurred_at, checked as the worker will."""
    value = orjson.dumps(item)
    key = item["ticket_id"].encode()
    event = decode(value, key)
    return event if isinstance(event, Rejection) else Record(key, value, event.occurred_at)


def _dead_letter(doc: dict[str, Any], exc: Unmappable) -> Record:
    headers = (("dlq.reason", exc.reason.encode()), ("dlq.source", b"rt"), ("dlq.detail", exc.detail[:500].encode()))
    return Record(None, orjson.dumps(doc), _ms(doc["transaction"].get("Created")) or None, headers)
