"""One typed settings object, read once from the environment (contract section 7).

Every value is validated when the settings are built, and a bad one stops start-up with a
:class:`ConfigError` that names the variable and says why, e.g.
``SLA_WEB_PORT: must be an integer from 1 to 65535, got 'http'``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import ConfigError

ClockMode = Literal["wall", "event"]

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_APP_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_HOSTPORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


def _parse_str(key: str, raw: str) -> str:
    return raw


def _parse_bootstrap(key: str, raw: str) -> str:
    servers = [s.strip() for s in raw.split(",") if s.strip()]
    if not servers:
        raise ConfigError(key, "must list at least one broker as host:port", raw)
    for server in servers:
        match = _HOSTPORT_RE.match(server)
        if not match or not 1 <= int(match.group(2)) <= 65535:
            why = f"each broker must be host:port with a port from 1 to 65535 ({server!r} is not)"
            raise ConfigError(key, why, raw)
    return ",".join(servers)


def _parse_app_id(key: str, raw: str) -> str:
    if not _APP_ID_RE.match(raw):
        raise ConfigError(key, "must be 1-200 characters of letters, digits, '.', '_' or '-'", raw)
    return raw


def _parse_topic(key: str, raw: str) -> str:
    if not _TOPIC_RE.match(raw) or raw in {".", ".."}:
        raise ConfigError(key, "must be a Kafka topic name: 1-249 characters of letters, digits, '.', '_' or '-'", raw)
    return raw


def _number_in(low: float, high: float, cast: Callable[[str], Any], noun: str) -> Callable[[str, str], Any]:
    bounds = f"{noun} from {_plain(low)} to {_plain(high)}"

    def parse(key: str, raw: str) -> Any:
        try:
            value = cast(raw)
        except ValueError:
            raise ConfigError(key, f"must be {bounds}", raw) from None
        if not low <= value <= high:  # also rejects NaN
            raise ConfigError(key, f"must be {bounds}", raw)
        return value

    return parse


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _int_in(low: int, high: int) -> Callable[[str, str], int]:
    return _number_in(low, high, int, "an integer")


def _seconds(low: float, high: float) -> Callable[[str, str], float]:
    return _number_in(low, high, float, "a number of seconds")


def _one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}", raw)
        return value

    return parse


def _existing_file(key: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(key, "must name a readable file; nothing is there", raw)
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"cannot be read ({exc.strerror})", raw) from None
    return path


def _directory(key: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(key, "must be a directory; a file is in the way", raw)
    return path


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything a worker needs to know, validated. Build it with :meth:`from_env`."""

    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "sla-pipeline"
    topic_events: str = "tickets.events"
    topic_dlq: str = "tickets.events.dlq"
    topic_outcomes: str = "sla.outcomes"
    topic_escalations: str = "sla.escalations"
    topic_dsat: str = "sla.dsat_reviews"
    policy_file: Path | None = None
    clock: ClockMode = "wall"
    data_dir: Path = Path("./data")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    partitions: int = 4
    replication_factor: int = 1
    allowed_lateness_seconds: float = 0.0
    orphan_timeout_seconds: float = 600.0
    session_timeout_seconds: float = 10.0
    metrics_max_engineers: int = 500
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read settings from ``environ``; ``overrides`` (CLI flags, already typed) win over it.

        An empty variable counts as unset. Raises :class:`ConfigError` naming the first bad key.
        """
        values: dict[str, Any] = {}
        for env_key, (field, parse) in _ENV.items():
            raw = environ.get(env_key, "")
            if raw.strip() == "":
                continue
            values[field] = parse(env_key, raw.strip())
        for field, value in overrides.items():
            if value is None:
                continue
            env_key = _FIELD_TO_ENV[field]
            values[field] = _ENV[env_key][1](env_key, str(value))
        return cls(**values)

    @staticmethod
    def unknown_keys(environ: Mapping[str, str]) -> list[str]:
        """``SLA_*`` variables this program does not read: usually a typo worth a warning."""
        return sorted(k for k in environ if k.startswith("SLA_") and k not in _ENV and k not in _IGNORED)

    @property
    def kafka_broker_url(self) -> str:
        """The servers in Faust's ``kafka://host:port;host:port`` form."""
        return "kafka://" + ";".join(self.bootstrap_servers.split(","))

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs, for the start-up log."""
        return [(env, str(getattr(self, field))) for env, (field, _) in _ENV.items()]


_ENV: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("bootstrap_servers", _parse_bootstrap),
    "SLA_APP_ID": ("app_id", _parse_app_id),
    "SLA_TOPIC_EVENTS": ("topic_events", _parse_topic),
    "SLA_TOPIC_DLQ": ("topic_dlq", _parse_topic),
    "SLA_TOPIC_OUTCOMES": ("topic_outcomes", _parse_topic),
    "SLA_TOPIC_ESCALATIONS": ("topic_escalations", _parse_topic),
    "SLA_TOPIC_DSAT": ("topic_dsat", _parse_topic),
    "SLA_POLICY_FILE": ("policy_file", _existing_file),
    "SLA_CLOCK": ("clock", _one_of("wall", "event")),
    "SLA_DATA_DIR": ("data_dir", _directory),
    "SLA_WEB_HOST": ("web_host", _parse_str),
    "SLA_WEB_PORT": ("web_port", _int_in(1, 65535)),
    "SLA_PARTITIONS": ("partitions", _int_in(1, 10000)),
    "SLA_REPLICATION_FACTOR": ("replication_factor", _int_in(1, 32)),
    "SLA_ALLOWED_LATENESS_SECONDS": ("allowed_lateness_seconds", _seconds(0, 86400)),
    "SLA_ORPHAN_TIMEOUT_SECONDS": ("orphan_timeout_seconds", _seconds(0, 30 * 86400)),
    "SLA_SESSION_TIMEOUT_SECONDS": ("session_timeout_seconds", _seconds(6, 300)),
    "SLA_METRICS_MAX_ENGINEERS": ("metrics_max_engineers", _int_in(0, 100000)),
    "SLA_LOG_LEVEL": ("log_level", _one_of("debug", "info", "warning", "error")),
}
_FIELD_TO_ENV = {field: env for env, (field, _) in _ENV.items()}
# Read by other commands (the embedded broker, the test suite), not by a worker.
_IGNORED = {"SLA_KAFKA_VERSION", "SLA_KAFKA_DIR", "SLA_KAFKA_CACHE", "SLA_TEST_KAFKA_VERSIONS",
            "SLA_ALERTMANAGER_URL", "SLA_RUNBOOK_BASE_URL", "SLA_NOTIFIER_PORT"}
