"""Typed settings, read once from the environment (contract section 7), one object per kind of command.

:class:`Settings` is the worker's (and the tools' that publish or read its topics); :class:`NotifySettings`
the notifier's; :class:`BrokerSettings` the embedded broker's; :class:`GenerateSettings` the generator's.
The command line builds the object a command needs (flags win over the environment) and hands it over;
no other module reads ``os.environ`` for configuration. Every value is validated when the settings are
built, and a bad one stops start-up with a :class:`ConfigError` that names the variable and says why,
e.g. ``SLA_WEB_PORT: must be an integer from 1 to 65535, got 'http'``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pipeline.errors import ConfigError

ClockMode = Literal["wall", "event"]
DEFAULT_RUNBOOK_BASE_URL = "http://127.0.0.1:6066/runbooks"  # a worker's /runbooks on its default port
DEFAULT_KAFKA_VERSION = "3.9.1"
LOCAL_BROKER = "127.0.0.1:9092"  # KAFKA_BOOTSTRAP_SERVERS unless set
APP_ID = "sla-pipeline"  # SLA_APP_ID unless set: names the consumer groups and internal topics
ESCALATIONS = "sla.escalations"  # SLA_TOPIC_ESCALATIONS unless set
LOOPBACK = "127.0.0.1"  # where the web servers listen unless SLA_WEB_HOST says otherwise

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


def _url(key: str, raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ConfigError(key, "must be an http:// or https:// URL", raw)
    return raw.rstrip("/")


def _kafka_version(key: str, raw: str) -> str:
    if not re.match(r"^\d+\.\d+\.\d+$", raw):
        raise ConfigError(key, "must be an Apache Kafka version such as 3.9.1", raw)
    return raw


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


Parser = Callable[[str, str], Any]


class _FromEnv:
    """Reads a settings dataclass from the environment through its ``_ENV`` table (variable -> field, parser)."""

    _ENV: ClassVar[dict[str, tuple[str, Parser]]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Any:
        """Read settings from ``environ``; ``overrides`` (CLI flags, already typed) win over it.

        An empty variable counts as unset. Raises :class:`ConfigError` naming the first bad key.
        """
        values: dict[str, Any] = {}
        for env_key, (field, parse) in cls._ENV.items():
            raw = environ.get(env_key, "")
            if raw.strip() == "":
                continue
            values[field] = parse(env_key, raw.strip())
        by_field = {field: (env, parse) for env, (field, parse) in cls._ENV.items()}
        for field, value in overrides.items():
            if value is None:
                continue
            env_key, parse = by_field[field]
            values[field] = parse(env_key, str(value))
        return cls(**values)

    @classmethod
    def fields_from_flags(cls, flags: Mapping[str, Any]) -> dict[str, Any]:
        """The command-line values (by dest) that set one of this class's fields."""
        names = {field for field, _ in cls._ENV.values()}
        return {k: v for k, v in flags.items() if k in names and v is not None}

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs, for the start-up log (no secrets are read here)."""
        return [(env, str(getattr(self, field))) for env, (field, _) in self._ENV.items()]


def unknown_keys(environ: Mapping[str, str]) -> list[str]:
    """``SLA_*`` variables no command reads: usually a typo worth a warning."""
    known = {key for cls in (Settings, NotifySettings, BrokerSettings, GenerateSettings) for key in cls._ENV}
    return sorted(k for k in environ if k.startswith("SLA_") and k not in known and k not in _IGNORED)


@dataclasses.dataclass(frozen=True, slots=True)
class Settings(_FromEnv):
    """Everything a worker needs to know, validated. Build it with :meth:`from_env`."""

    bootstrap_servers: str = LOCAL_BROKER
    app_id: str = APP_ID
    topic_events: str = "tickets.events"
    topic_dlq: str = "tickets.events.dlq"
    topic_outcomes: str = "sla.outcomes"
    topic_escalations: str = ESCALATIONS
    topic_dsat: str = "sla.dsat_reviews"
    policy_file: Path | None = None
    clock: ClockMode = "wall"
    data_dir: Path = Path("./data")
    web_host: str = LOOPBACK
    web_port: int = 6066
    partitions: int = 4
    replication_factor: int = 1
    allowed_lateness_seconds: float = 0.0
    orphan_timeout_seconds: float = 600.0
    session_timeout_seconds: float = 10.0
    metrics_max_engineers: int = 500
    log_level: str = "info"

    @property
    def kafka_broker_url(self) -> str:
        """The servers in Faust's ``kafka://host:port;host:port`` form."""
        return "kafka://" + ";".join(self.bootstrap_servers.split(","))



_KAFKA: dict[str, tuple[str, Parser]] = {"KAFKA_BOOTSTRAP_SERVERS": ("bootstrap_servers", _parse_bootstrap)}
Settings._ENV = {
    **_KAFKA,
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


@dataclasses.dataclass(frozen=True, slots=True)
class NotifySettings(_FromEnv):
    """``sla-pipeline notify``: where escalations come from and which Alertmanager gets them."""

    alertmanager_url: str = "http://127.0.0.1:9093"
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    notifier_port: int = 6067  # its own /metrics; 0 = none
    policy_file: Path | None = None
    bootstrap_servers: str = LOCAL_BROKER
    app_id: str = APP_ID
    topic_escalations: str = ESCALATIONS
    web_host: str = LOOPBACK

    @property
    def group_id(self) -> str:
        return f"{self.app_id}-notifier"


NotifySettings._ENV = {
    **_KAFKA,
    "SLA_APP_ID": Settings._ENV["SLA_APP_ID"],
    "SLA_TOPIC_ESCALATIONS": Settings._ENV["SLA_TOPIC_ESCALATIONS"],
    "SLA_ALERTMANAGER_URL": ("alertmanager_url", _url),
    "SLA_RUNBOOK_BASE_URL": ("runbook_base_url", _url),
    "SLA_NOTIFIER_PORT": ("notifier_port", _int_in(0, 65535)),
    "SLA_WEB_HOST": Settings._ENV["SLA_WEB_HOST"],
    "SLA_POLICY_FILE": Settings._ENV["SLA_POLICY_FILE"],
}


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerSettings(_FromEnv):
    """The embedded single-node broker (``sla-pipeline kafka``, ``run``, ``demo``)."""

    kafka_version: str = DEFAULT_KAFKA_VERSION
    kafka_dir: Path = Path(".kafka")
    kafka_port: int | None = None  # default: the port of KAFKA_BOOTSTRAP_SERVERS, else 9092
    bootstrap_servers: str = LOCAL_BROKER

    @property
    def port(self) -> int:
        if self.kafka_port is not None:
            return self.kafka_port
        return int(self.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


BrokerSettings._ENV = {
    "SLA_KAFKA_VERSION": ("kafka_version", _kafka_version),
    "SLA_KAFKA_DIR": ("kafka_dir", _directory),
    "SLA_KAFKA_PORT": ("kafka_port", _int_in(1, 65535)),
    **_KAFKA,
}


@dataclasses.dataclass(frozen=True, slots=True)
class GenerateSettings(_FromEnv):
    """``sla-pipeline generate``: the policy the rules follow and where alerts' runbook links point."""

    policy_file: Path | None = None
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL


GenerateSettings._ENV = {
    "SLA_POLICY_FILE": Settings._ENV["SLA_POLICY_FILE"],
    "SLA_RUNBOOK_BASE_URL": NotifySettings._ENV["SLA_RUNBOOK_BASE_URL"],
}
# Read by the test suite and the embedded broker's cache, not by a command's settings.
_IGNORED = {"SLA_TEST_KAFKA_VERSIONS", "SLA_KAFKA_CACHE"}
