"""The ingest gateway's settings (``sla-pipeline ingest``, contract v3 section 11): the same Kafka settings as
every command, the gateway's port and bearer token, each ticket system's secret file and mapping folder,
and Request Tracker's REST access for the catch-up. Re-exported by :mod:`pipeline.settings`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.ingest.adapter import SOURCES
from pipeline.kafka.client import Secret
from pipeline.settings import _KAFKA, LOOPBACK, KafkaSettings, Settings
from pipeline.settings import envparse as ep


def _default(cls: type, field: str) -> Any:
    """A settings class's default for one field (one home for the topics' default names)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == field)


def _ingest_sources(key: str, raw: str) -> tuple[str, ...]:
    """``SLA_INGEST_SOURCES``: a comma list of the ticket systems the gateway serves."""
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    unknown = [n for n in names if n not in SOURCES]
    if not names or unknown:
        raise ConfigError(key, f"must list ticket systems among {', '.join(SOURCES)}", raw)
    if len(set(names)) != len(names):
        raise ConfigError(key, "names the same ticket system twice", raw)
    return names


def _ingest_secret_file(key: str, raw: str) -> Secret:
    """A source's shared secret from a file: any text, but not none (an empty HMAC key signs anything)."""
    secret = ep.secret_file(key, raw)
    if not secret.reveal():
        raise ConfigError(key, "names an empty file; write the secret into it", raw)
    return secret


def secret_variable(source: str) -> str:
    """The variable naming the file of a source's secret: ``SLA_INGEST_ZENDESK_SECRET_FILE``."""
    return f"SLA_INGEST_{source.upper()}_SECRET_FILE"


@dataclasses.dataclass(frozen=True, slots=True)
class IngestSettings(KafkaSettings):
    """``sla-pipeline ingest`` (contract v3 section 11): the gateway's port, the bearer token of ``/v1/events``,
    each ticket system's secret and mapping, the topics it writes, and RT's REST access for the catch-up."""

    ingest_port: int = 6068
    web_host: str = LOOPBACK
    ingest_token: Secret | None = None  # /v1/events answers 401 to everyone without it
    ingest_sources: tuple[str, ...] | None = None  # None: every source whose secret is set
    mapping_dir: Path | None = None  # <source>.toml here replaces the shipped mapping whole
    topic_events: str = _default(Settings, "topic_events")
    topic_dlq: str = _default(Settings, "topic_dlq")
    zendesk_secret: Secret | None = None
    jira_secret: Secret | None = None
    freshdesk_secret: Secret | None = None
    zammad_secret: Secret | None = None
    glpi_secret: Secret | None = None
    rt_secret: Secret | None = None
    rt_url: str | None = None  # the catch-up reads RT's REST 2 API here
    rt_user: str | None = None
    rt_password: Secret | None = None

    def __post_init__(self) -> None:
        KafkaSettings.__post_init__(self)
        if (self.rt_user is None) != (self.rt_password is None):
            missing = "SLA_INGEST_RT_USER" if self.rt_user is None else "SLA_INGEST_RT_PASSWORD_FILE"
            raise ConfigError(missing, "must be set too: RT's REST API needs a user name and a password file")

    def secret(self, source: str) -> Secret | None:
        """The shared secret of a ticket system (from ``SLA_INGEST_<SOURCE>_SECRET_FILE``), or None."""
        if source not in SOURCES:
            raise KeyError(source)
        return getattr(self, f"{source}_secret")

    @property
    def sources(self) -> tuple[str, ...]:
        """The ticket systems served: ``SLA_INGEST_SOURCES`` if set, else every one whose secret is set."""
        if self.ingest_sources is not None:
            return self.ingest_sources
        return tuple(s for s in SOURCES if self.secret(s) is not None)


IngestSettings._ENV = {
    **_KAFKA,
    "SLA_INGEST_PORT": ("ingest_port", ep.int_in(1, 65535)),
    "SLA_WEB_HOST": Settings._ENV["SLA_WEB_HOST"],
    "SLA_INGEST_TOKEN_FILE": ("ingest_token", ep.token_file),
    "SLA_INGEST_SOURCES": ("ingest_sources", _ingest_sources),
    "SLA_INGEST_MAPPING_DIR": ("mapping_dir", ep.existing_directory),
    "SLA_TOPIC_EVENTS": Settings._ENV["SLA_TOPIC_EVENTS"],
    "SLA_TOPIC_DLQ": Settings._ENV["SLA_TOPIC_DLQ"],
    **{secret_variable(source): (f"{source}_secret", _ingest_secret_file) for source in SOURCES},
    "SLA_INGEST_RT_URL": ("rt_url", ep.url),
    "SLA_INGEST_RT_USER": ("rt_user", ep.parse_str),
    "SLA_INGEST_RT_PASSWORD_FILE": ("rt_password", ep.secret_file),
}
