"""The per-source mapping files (what differs per installation: priorities, statuses, which field holds the
contract, who counts as staff), read and checked at start-up like the policy: each mistake stops start-up
naming the file and the key (``zendesk.toml: severity.urgent: must be a severity from 1 to 4, got 7``).

The shipped defaults are ``pipeline/resources/ingest/<source>.toml``; an installation points
``SLA_INGEST_MAPPING_DIR`` at a folder holding its own ``<source>.toml`` files (a file there replaces the
shipped one whole). Each adapter reads the keys every source has with :func:`read_common` (its mapping
extends :class:`Common`), its own keys through the same :class:`Reader`, and calls
:meth:`Reader.refuse_unknown` last.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.domain.tomlread import unread_keys
from pipeline.errors import ConfigError

STATUS_LISTS = ("waiting", "resolved", "closed")
# the lists that may not share a status, the one an error names first; the last pair may share where ends may
_STATUS_PAIRS = (("waiting", "resolved"), ("waiting", "closed"), ("closed", "resolved"))


def load(source: str, directory: Path | None = None) -> tuple[dict[str, Any], str]:
    """(the mapping document, the name errors give for it) of a source: the installation's file if
    ``directory`` has one, else the shipped default."""
    path = directory / f"{source}.toml" if directory is not None else None
    if path is not None and path.exists():
        where = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(where, f"cannot be read ({exc.strerror})") from None
    else:
        where = f"{source}.toml (shipped)"
        text = resources.files("pipeline.resources").joinpath("ingest", f"{source}.toml").read_text()
    try:
        return tomllib.loads(text), where
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"is not valid TOML ({exc})") from None


class Reader:
    """Reads dotted keys of one mapping document, checks them, and remembers which it read."""

    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.doc = doc
        self.where = where
        self.read: set[str] = set()

    def error(self, key: str, why: str, got: Any = ...) -> ConfigError:
        return ConfigError(f"{self.where}: {key}", why if got is ... else f"{why}, got {got!r}")

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        node: Any = self.doc
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(key, "must be a non-empty string", value)
        return value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key, list(default))
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or any(not isinstance(v, str) or not v for v in value):
            raise self.error(key, "must be a string or a list of strings", value)
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false", value)
        return value

    def severities(self, key: str) -> dict[str, int]:
        """A table of the source's priority values (as text, compared case-insensitively) to severities."""
        table = self.get(key, {})
        if not isinstance(table, dict) or not table:
            raise self.error(key, "must be a table of the ticket system's priorities to severities 1-4, such as "
                                  "{ urgent = 1, high = 2, normal = 3, low = 4 }")
        out = {}
        for name, severity in table.items():
            if type(severity) is not int or not 1 <= severity <= 4:
                raise self.error(f"{key}.{name}", "must be a severity from 1 to 4", severity)
            out[str(name).casefold()] = severity
        return out

    def severity(self, key: str, default: int | None) -> int | None:
        value = self.get(key, default)
        if value is not None and (type(value) is not int or not 1 <= value <= 4):
            raise self.error(key, "must be a severity from 1 to 4", value)
        return value

    def refuse_unknown(self) -> None:
        unknown = unread_keys(self.doc, self.read)
        if unknown:
            raise self.error(unknown[0], "is not a setting of this mapping (a typo?); see the shipped "
                                         "pipeline/resources/ingest files for every key")


@dataclasses.dataclass(frozen=True, slots=True)
class Common:
    """The keys every source's mapping has; each adapter's ``Mapping`` extends it with its own."""

    prefix: str  # ticket_prefix: before the source's ticket id
    severities: dict[str, int]  # [severity]: the source's priority (casefolded) -> severity
    default_severity: int
    waiting: frozenset[str]  # [status]: the source's statuses (casefolded) meaning each
    resolved: frozenset[str]
    closed: frozenset[str]
    customer: str  # [fields]: where each source finds the customer, product, contract and FastLane
    product: str
    default_product: str
    contract: str | None
    fastlane: str | None

    def fields(self) -> dict[str, Any]:
        """These keys as keyword arguments, to build an adapter's ``Mapping`` from."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Common)}


def read_common(reader: Reader, *, prefix: str, product: str, waiting: tuple[str, ...],
                resolved: tuple[str, ...], closed: tuple[str, ...], ends_may_share: bool = False) -> Common:
    """The common keys with this source's defaults. A status may mean one thing only, except that with
    ``ends_may_share`` one status may both resolve and close (Jira, Zammad, GLPI: the ticket ends either way)."""
    statuses = {name: frozenset(s.casefold() for s in reader.texts(f"status.{name}", default))
                for name, default in zip(STATUS_LISTS, (waiting, resolved, closed), strict=True)}
    for name, other in _STATUS_PAIRS[:2] if ends_may_share else _STATUS_PAIRS:
        both = statuses[name] & statuses[other]
        if both:
            raise reader.error(f"status.{name}", f"a status cannot be both {name} and {other}", sorted(both))
    return Common(
        prefix=reader.text("ticket_prefix", prefix),  # type: ignore[arg-type]
        severities=reader.severities("severity"),
        default_severity=reader.severity("default_severity", 3),  # type: ignore[arg-type]
        waiting=statuses["waiting"], resolved=statuses["resolved"], closed=statuses["closed"],
        customer=reader.text("fields.customer", "organization"),  # type: ignore[arg-type]
        product=reader.text("fields.product", product),  # type: ignore[arg-type]
        default_product=reader.text("default_product", "support"),  # type: ignore[arg-type]
        contract=reader.text("fields.contract"),
        fastlane=reader.text("fields.fastlane"),
    )
