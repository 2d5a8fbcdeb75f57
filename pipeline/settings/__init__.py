"""Typed settings, read once from the environment (contract section 7), one object per kind of command.

:class:`Settings` is the worker's (and the tools' that publish or read its topics); :class:`NotifySettings`
the notifier's; :class:`BrokerSettings` the embedded broker's; :class:`GenerateSettings` the generator's;
:class:`IngestSettings` the ingest gateway's.
The command line builds the object a command needs (flags win over the environment) and hands it over;
no other module reads ``os.environ`` for configuration. Every value is validated when the settings are
built, and a bad one stops start-up with a :class:`ConfigError` that names the variable and says why,
e.g. ``SLA_WEB_PORT: must be an integer from 1 to 65535, got 'http'``.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pipeline.errors import ConfigError
from pipeline.kafka.client import LOCAL_BROKER, KafkaClient, Secret
from pipeline.settings import envparse as ep

ClockMode = Literal["wall", "event"]
DEFAULT_RUNBOOK_BASE_URL = "http://127.0.0.1:6066/runbooks"  # a worker's /runbooks on its default port
DEFAULT_KAFKA_VERSION = "3.9.1"
APP_ID = "sla-pipeline"  # SLA_APP_ID unless set: names the consumer groups and internal topics
ESCALATIONS = "sla.escalations"  # SLA_TOPIC_ESCALATIONS unless set
LOOPBACK = "127.0.0.1"  # where the web servers listen unless SLA_WEB_HOST says otherwise
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen on every interface: no address another host can use


def unknown_keys(environ: Mapping[str, str]) -> list[str]:
    """``SLA_*`` variables no command reads: usually a typo worth a warning."""
    known = {key for cls in (Settings, NotifySettings, BrokerSettings, GenerateSettings, IngestSettings)
             for key in cls._ENV}
    return sorted(k for k in environ if k.startswith("SLA_") and k not in known and k not in _IGNORED)


@dataclasses.dataclass(frozen=True, slots=True)
class KafkaSettings(KafkaClient, ep.FromEnv):
    """How every Kafka client of a command connects (contract section 8): the :class:`KafkaClient` fields,
    read from the ``KAFKA_*`` variables and checked together."""

    def __post_init__(self) -> None:
        if self.uses_sasl:
            for key, value in (("KAFKA_SASL_USERNAME", self.sasl_username),
                               ("KAFKA_SASL_PASSWORD", self.sasl_password)):
                if value is None:
                    raise ConfigError(key, f"must be set when KAFKA_SECURITY_PROTOCOL is {self.security_protocol}"
                                           + (" (or KAFKA_SASL_PASSWORD_FILE)" if "PASSWORD" in key else ""))
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ConfigError("KAFKA_SSL_CERT_FILE", "and KAFKA_SSL_KEY_FILE go together (a client certificate "
                                                     "needs its key)")

    @property
    def kafka(self) -> KafkaClient:
        return KafkaClient(**{f.name: getattr(self, f.name) for f in dataclasses.fields(KafkaClient)})


@dataclasses.dataclass(frozen=True, slots=True)
class Settings(KafkaSettings):
    """Everything a worker needs to know, validated. Build it with :meth:`from_env`."""

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
    # How the other workers reach this one's web server (they forward /tickets/<id> to the ticket's owner);
    # None: http://<web_host>:<web_port>, a wildcard host (0.0.0.0) replaced by the machine's host name
    web_advertised_url: str | None = None
    partitions: int = 4
    replication_factor: int = 1
    allowed_lateness_seconds: float = 0.0
    orphan_timeout_seconds: float = 600.0
    session_timeout_seconds: float = 10.0
    metrics_max_engineers: int = 500
    log_level: str = "info"
    # The private pages (/stackrank, /reports/..., /tickets/...): people's performance, customers' data. They
    # answer only a request that carries this token, or anyone with reports_open; neither: they refuse.
    reports_token: Secret | None = None
    reports_open: bool = False
    report_timezone: str = "UTC"  # the reports' days, weeks and months are local to it (IANA name)

    def __post_init__(self) -> None:
        KafkaSettings.__post_init__(self)
        if self.reports_open and self.reports_token is not None:
            raise ConfigError("SLA_REPORTS_OPEN", "and SLA_REPORTS_TOKEN_FILE (or its older name "
                                                  "SLA_STACKRANK_TOKEN_FILE) exclude each other: either the "
                                                  "private pages need a token or they are open to anyone")

    @property
    def kafka_broker_url(self) -> str:
        """The servers in Faust's ``kafka://host:port;host:port`` form."""
        return "kafka://" + ";".join(self.bootstrap_servers.split(","))

    @property
    def advertised_url(self) -> str:
        """The URL the other workers use for this one's pages (Faust's ``canonical_url``)."""
        if self.web_advertised_url is not None:
            return self.web_advertised_url
        host = socket.gethostname() if self.web_host in WILDCARD_HOSTS else self.web_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.web_port}"

    @property
    def topic_ticks(self) -> str:
        """The internal topic of the deadline ticks (one per partition)."""
        return f"{self.app_id}-ticks"

    @property
    def topic_facts(self) -> str:
        """The internal topic of engineer facts, read by the engineer agent and the monthly report."""
        return f"{self.app_id}-engineer-facts"

    @property
    def topic_incidents(self) -> str:
        """The internal topic of critical incidents keyed by customer, read by the customers agent that counts
        them against their contract's monthly allowance (contract v3 section 10)."""
        return f"{self.app_id}-customer-incidents"

    def changelog_topics(self, tables: tuple[str, ...]) -> list[str]:
        """The changelog topics of these tables, named as Faust names them."""
        return [f"{self.app_id}-{table}-changelog" for table in tables]



_KAFKA: dict[str, tuple[str, ep.Parser]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("bootstrap_servers", ep.parse_bootstrap),
    "KAFKA_SECURITY_PROTOCOL": ("security_protocol", ep.security_protocol),
    "KAFKA_SASL_MECHANISM": ("sasl_mechanism", ep.sasl_mechanism),
    "KAFKA_SASL_USERNAME": ("sasl_username", ep.parse_str),
    "KAFKA_SASL_PASSWORD": ("sasl_password", ep.secret),
    "KAFKA_SASL_PASSWORD_FILE": ("sasl_password", ep.secret_file),  # a mounted secret; wins
    "KAFKA_SSL_CA_FILE": ("ssl_ca_file", ep.existing_file),
    "KAFKA_SSL_CERT_FILE": ("ssl_cert_file", ep.existing_file),
    "KAFKA_SSL_KEY_FILE": ("ssl_key_file", ep.existing_file),
    "KAFKA_SSL_KEY_PASSWORD_FILE": ("ssl_key_password", ep.secret_file),
    "KAFKA_SSL_CHECK_HOSTNAME": ("ssl_check_hostname", ep.boolean),
}
KafkaSettings._ENV = dict(_KAFKA)
Settings._ENV = {
    **_KAFKA,
    "SLA_APP_ID": ("app_id", ep.parse_app_id),
    "SLA_TOPIC_EVENTS": ("topic_events", ep.parse_topic),
    "SLA_TOPIC_DLQ": ("topic_dlq", ep.parse_topic),
    "SLA_TOPIC_OUTCOMES": ("topic_outcomes", ep.parse_topic),
    "SLA_TOPIC_ESCALATIONS": ("topic_escalations", ep.parse_topic),
    "SLA_TOPIC_DSAT": ("topic_dsat", ep.parse_topic),
    "SLA_POLICY_FILE": ("policy_file", ep.existing_file),
    "SLA_CLOCK": ("clock", ep.one_of("wall", "event")),
    "SLA_DATA_DIR": ("data_dir", ep.directory),
    "SLA_WEB_HOST": ("web_host", ep.parse_str),
    "SLA_WEB_PORT": ("web_port", ep.int_in(1, 65535)),
    "SLA_WEB_ADVERTISED_URL": ("web_advertised_url", ep.url),
    "SLA_PARTITIONS": ("partitions", ep.int_in(1, 10000)),
    "SLA_REPLICATION_FACTOR": ("replication_factor", ep.int_in(1, 32)),
    "SLA_ALLOWED_LATENESS_SECONDS": ("allowed_lateness_seconds", ep.seconds(0, 86400)),
    "SLA_ORPHAN_TIMEOUT_SECONDS": ("orphan_timeout_seconds", ep.seconds(0, 30 * 86400)),
    "SLA_SESSION_TIMEOUT_SECONDS": ("session_timeout_seconds", ep.seconds(6, 300)),
    "SLA_METRICS_MAX_ENGINEERS": ("metrics_max_engineers", ep.int_in(0, 100000)),
    "SLA_LOG_LEVEL": ("log_level", ep.one_of("debug", "info", "warning", "error")),
    "SLA_STACKRANK_TOKEN_FILE": ("reports_token", ep.token_file),  # the older name of the next one
    "SLA_REPORTS_TOKEN_FILE": ("reports_token", ep.token_file),  # wins over the older name
    "SLA_REPORTS_OPEN": ("reports_open", ep.boolean),
    "SLA_REPORT_TIMEZONE": ("report_timezone", ep.timezone),
}


@dataclasses.dataclass(frozen=True, slots=True)
class NotifySettings(KafkaSettings):
    """``sla-pipeline notify``: where escalations come from and which Alertmanager gets them."""

    alertmanager_urls: tuple[str, ...] = ("http://127.0.0.1:9093",)  # every alert goes to each
    alertmanager_bearer_token: Secret | None = None
    alertmanager_username: str | None = None
    alertmanager_password: Secret | None = None
    alertmanager_ca_file: Path | None = None
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    notifier_port: int = 6067  # its own /metrics; 0 = none
    policy_file: Path | None = None
    app_id: str = APP_ID
    topic_escalations: str = ESCALATIONS
    web_host: str = LOOPBACK

    def __post_init__(self) -> None:
        KafkaSettings.__post_init__(self)
        basic = self.alertmanager_username is not None or self.alertmanager_password is not None
        if basic and self.alertmanager_bearer_token is not None:
            raise ConfigError("SLA_ALERTMANAGER_BEARER_TOKEN_FILE", "and SLA_ALERTMANAGER_BASIC_AUTH_* exclude each "
                                                                   "other: choose one way to authenticate")
        if basic and (self.alertmanager_username is None or self.alertmanager_password is None):
            missing = ("SLA_ALERTMANAGER_BASIC_AUTH_USERNAME" if self.alertmanager_username is None
                       else "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE")
            raise ConfigError(missing, "must be set too: basic auth needs a user name and a password file")
        if self.alertmanager_ca_file is not None:
            ep.ca_bundle("SLA_ALERTMANAGER_CA_FILE", self.alertmanager_ca_file)

    @property
    def group_id(self) -> str:
        return f"{self.app_id}-notifier"


NotifySettings._ENV = {
    **_KAFKA,
    "SLA_APP_ID": Settings._ENV["SLA_APP_ID"],
    "SLA_TOPIC_ESCALATIONS": Settings._ENV["SLA_TOPIC_ESCALATIONS"],
    "SLA_ALERTMANAGER_URL": ("alertmanager_urls", ep.urls),
    "SLA_ALERTMANAGER_URLS": ("alertmanager_urls", ep.urls),  # wins over the one-URL form
    "SLA_ALERTMANAGER_BEARER_TOKEN_FILE": ("alertmanager_bearer_token", ep.secret_file),
    "SLA_ALERTMANAGER_BASIC_AUTH_USERNAME": ("alertmanager_username", ep.parse_str),
    "SLA_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE": ("alertmanager_password", ep.secret_file),
    "SLA_ALERTMANAGER_CA_FILE": ("alertmanager_ca_file", ep.existing_file),
    "SLA_RUNBOOK_BASE_URL": ("runbook_base_url", ep.url),
    "SLA_NOTIFIER_PORT": ("notifier_port", ep.int_in(0, 65535)),
    "SLA_WEB_HOST": Settings._ENV["SLA_WEB_HOST"],
    "SLA_POLICY_FILE": Settings._ENV["SLA_POLICY_FILE"],
}


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerSettings(ep.FromEnv):
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
    "SLA_KAFKA_VERSION": ("kafka_version", ep.kafka_version),
    "SLA_KAFKA_DIR": ("kafka_dir", ep.directory),
    "SLA_KAFKA_PORT": ("kafka_port", ep.int_in(1, 65535)),
    **_KAFKA,
}


@dataclasses.dataclass(frozen=True, slots=True)
class GenerateSettings(ep.FromEnv):
    """``sla-pipeline generate``: the policy the rules follow and where alerts' runbook links point."""

    policy_file: Path | None = None
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL


GenerateSettings._ENV = {
    "SLA_POLICY_FILE": Settings._ENV["SLA_POLICY_FILE"],
    "SLA_RUNBOOK_BASE_URL": NotifySettings._ENV["SLA_RUNBOOK_BASE_URL"],
}


@dataclasses.dataclass(frozen=True, slots=True)
class PolicySettings(ep.FromEnv):
    """``sla-pipeline policy``: only the policy file."""

    policy_file: Path | None = None


PolicySettings._ENV = {"SLA_POLICY_FILE": Settings._ENV["SLA_POLICY_FILE"]}


# Read by the test suite and the embedded broker's cache, not by a command's settings.
_IGNORED = {"SLA_TEST_KAFKA_VERSIONS", "SLA_KAFKA_CACHE"}

# the gateway's settings build on the classes above; re-exported here, the one place commands import from
from pipeline.settings.ingest import IngestSettings, secret_variable  # noqa: E402

__all__ = ["APP_ID", "DEFAULT_KAFKA_VERSION", "DEFAULT_RUNBOOK_BASE_URL", "ESCALATIONS", "LOOPBACK", "WILDCARD_HOSTS",
           "BrokerSettings", "ClockMode", "GenerateSettings", "IngestSettings", "KafkaSettings", "NotifySettings",
           "PolicySettings", "Settings", "secret_variable", "unknown_keys"]
