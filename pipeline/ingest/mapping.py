"""The per-source mapping files (what differs per installation: priorities, statuses, which field holds the
contract, who counts as staff), read and checked at start-up like the policy: each mistake stops start-up
naming the file and the key (``zendesk.toml: severity.urgent: must be a severity from 1 to 4, got 7``).

The shipped defaults are ``pipeline/resources/ingest/<source>.toml``; an installation points
``SLA_INGEST_MAPPING_DIR`` at a folder holding its own ``<source>.toml`` files (a file there replaces the
shipped one whole). Each adapter reads its own keys through a :class:`Reader` and calls
:meth:`Reader.refuse_unknown` last.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.domain.policy import unread_keys
from pipeline.errors import ConfigError


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
