"""What the source adapters' tests share: a source's fixtures, its shipped mapping, an adapter built from it,
the calls and checks every adapter's tests make (each event valid for the pipeline, a signed call's headers,
an unmappable payload's reason, a mapping mistake's key)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from pipeline.domain.events import Event, decode
from pipeline.errors import ConfigError
from pipeline.ingest.adapter import Request, Unmappable
from pipeline.ingest.mapping import Reader, load
from pipeline.kafka.client import Secret

WEBHOOKS = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"


def fixture(source: str, name: str) -> Any:
    """A fixture's JSON: tests/fixtures/webhooks/<source>/<name>.json."""
    return orjson.loads((WEBHOOKS / source / f"{name}.json").read_bytes())


@dataclasses.dataclass(frozen=True)
class Source:
    """One source under test: its adapter module, the secret its fixtures were signed with, and the arrival
    time its calls get unless a test says otherwise."""

    module: ModuleType
    secret: str
    arrived_ms: int = 1

    @property
    def name(self) -> str:
        return self.module.SOURCE

    @property
    def fixtures(self) -> Path:
        return WEBHOOKS / self.name

    def body(self, name: str) -> bytes:
        return (self.fixtures / f"{name}.json").read_bytes()

    def json(self, name: str) -> Any:
        return fixture(self.name, name)

    def fixture_names(self, besides: Iterable[str]) -> set[str]:
        """The fixtures on disk but the ones named (headers, signed calls): one per event kind."""
        return {p.stem for p in self.fixtures.glob("*.json")} - set(besides)

    def shipped(self) -> dict[str, Any]:
        return load(self.name)[0]

    def changed(self, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """The shipped mapping with ``change`` applied (to a copy)."""
        doc = copy.deepcopy(self.shipped())
        change(doc)
        return doc

    def build(self, doc: dict[str, Any] | None = None, secret: str | None = None) -> Any:
        """The adapter from a mapping (the shipped one by default) and a secret (the fixtures' by default)."""
        return self.module.build(Reader(self.shipped() if doc is None else doc, f"{self.name}.toml"),
                                 Secret(self.secret if secret is None else secret))

    def events(self, raw: bytes, doc: dict[str, Any] | None = None,
               received_ms: int | None = None) -> list[dict[str, Any]]:
        """The events an unsigned call with this body gives (``events`` does not check signatures)."""
        at = self.arrived_ms if received_ms is None else received_ms
        return self.build(doc).events(Request(headers={}, body=raw, received_ms=at))

    def mutated(self, name: str, change: Callable[[Any], Any]) -> bytes:
        """The fixture's body with ``change`` applied to its JSON."""
        doc = self.json(name)
        change(doc)
        return orjson.dumps(doc)

    def unmappable(self, raw: bytes, doc: dict[str, Any] | None = None) -> Unmappable:
        with pytest.raises(Unmappable) as caught:
            self.events(raw, doc)
        assert caught.value.detail, "an unmappable call says why in a sentence"
        return caught.value

    def mapping_error(self, doc: dict[str, Any]) -> ConfigError:
        with pytest.raises(ConfigError) as caught:
            self.build(doc)
        return caught.value

    def secret_error(self) -> ConfigError:
        """What start-up says when the source's secret is not set."""
        with pytest.raises(ConfigError) as caught:
            self.module.build(Reader(self.shipped(), f"{self.name}.toml"), None)
        return caught.value


def signed_request(headers: dict[str, str], body: bytes, received_ms: int = 1, **changes: str) -> Request:
    """A call with a signed call's headers (names lower-cased) but ``changes`` (header name: value; "" drops
    the header)."""
    sent = {k.lower(): v for k, v in headers.items()} | {k.lower(): v for k, v in changes.items()}
    return Request(headers={k: v for k, v in sent.items() if v}, body=body, received_ms=received_ms)


def assert_valid_for_the_pipeline(events: list[dict[str, Any]]) -> None:
    """Each event decodes as the worker decodes what the gateway writes: keyed by its ticket id."""
    for e in events:
        decoded = decode(orjson.dumps(e), e["ticket_id"].encode())
        assert isinstance(decoded, Event), (e, decoded)


def event_ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]
