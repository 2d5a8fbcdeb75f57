"""One Kafka client configuration (contract section 8), used by every client of the project.

:class:`KafkaClient` carries the bootstrap servers and the security settings read from the environment
(``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``; see :mod:`pipeline.settings`). It gives the
keyword arguments of every aiokafka producer, consumer and admin client (:meth:`KafkaClient.options`) and
the Faust app's ``broker_credentials``. Passwords are :class:`Secret` values: their ``str`` and ``repr``
are ``***``, so they cannot reach a log line, an error message or ``--help``.

:func:`connect` starts an aiokafka client and turns a failure into one line that names the broker, how
the client tried to connect, and what failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import ssl
from pathlib import Path
from typing import Any, Protocol

from aiokafka import errors as kafka_errors
from aiokafka.helpers import create_ssl_context

from pipeline.errors import PipelineError

LOCAL_BROKER = "127.0.0.1:9092"  # KAFKA_BOOTSTRAP_SERVERS unless set
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class Secret:
    """A password or key passphrase: shown as ``***`` everywhere, revealed only to the client library."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclasses.dataclass(frozen=True)
class KafkaClient:
    bootstrap_servers: str = LOCAL_BROKER
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_ca_file: Path | None = None
    ssl_cert_file: Path | None = None
    ssl_key_file: Path | None = None
    ssl_key_password: Secret | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        context = create_ssl_context(
            cafile=None if self.ssl_ca_file is None else str(self.ssl_ca_file),
            certfile=None if self.ssl_cert_file is None else str(self.ssl_cert_file),
            keyfile=None if self.ssl_key_file is None else str(self.ssl_key_file),
            password=None if self.ssl_key_password is None else self.ssl_key_password.reveal(),
        )
        if self.ssl_ca_file is None:
            context.load_default_certs()
        context.check_hostname = self.ssl_check_hostname
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client: servers and security."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                "security_protocol": self.security_protocol}
        if self.uses_tls:
            opts["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            opts["sasl_mechanism"] = self.sasl_mechanism
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = None if self.sasl_password is None else self.sasl_password.reveal()
        return opts

    def faust_credentials(self) -> Any:
        """The Faust app's ``broker_credentials`` (None for PLAINTEXT)."""
        import faust

        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=None if self.sasl_password is None else self.sasl_password.reveal(),
                ssl_context=self.ssl_context, mechanism=self.sasl_mechanism)
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context)
        return None

    def where(self) -> str:
        """``127.0.0.1:9093 (SASL_SSL, SCRAM-SHA-512 as alice)``: no secret in it."""
        how = self.security_protocol
        if self.uses_sasl:
            how += f", {self.sasl_mechanism} as {self.sasl_username or '(no user)'}"
        if self.uses_tls and self.ssl_cert_file is not None:
            how += ", client certificate"
        return f"{self.bootstrap_servers} ({how})"


def options(kafka: KafkaClient | str) -> dict[str, Any]:
    """Client options for a configuration, or for bare ``host:port`` servers (PLAINTEXT: tests, the demo)."""
    return (kafka if isinstance(kafka, KafkaClient) else KafkaClient(kafka)).options()


def describe(kafka: KafkaClient | str) -> str:
    return (kafka if isinstance(kafka, KafkaClient) else KafkaClient(kafka)).where()


class Startable(Protocol):
    async def start(self) -> None: ...


class _Held(logging.Handler):
    """Keeps aiokafka's own complaints while a client connects: they become part of one clear line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def connect(client: Startable, kafka: KafkaClient | str, timeout_s: float = 30.0) -> None:
    """Start an aiokafka client; on failure, one :class:`PipelineError` line saying where and what."""
    held, logger = _Held(), logging.getLogger("aiokafka")
    logger.addHandler(held)
    propagate, logger.propagate = logger.propagate, False
    try:
        await asyncio.wait_for(client.start(), timeout_s)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the same kind of clear line
        with_close = getattr(client, "close", None) or getattr(client, "stop", None)
        if with_close is not None:
            with contextlib.suppress(Exception):  # already failing: the first error is the one to report
                await with_close()
        reason = await why(exc, kafka, " ".join(held.messages))
        raise PipelineError(f"cannot connect to Kafka at {describe(kafka)}: {reason}") from None
    finally:
        logger.removeHandler(held)
        logger.propagate = propagate


async def _listening(servers: str) -> bool:
    """Does anything accept a TCP connection at the first of the servers?"""
    host, _, port = servers.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), 3)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def why(exc: BaseException, kafka: KafkaClient | str, logged: str = "") -> str:
    """What failed, in words, never with a secret (aiokafka's messages carry none; ours are fixed).
    ``logged`` is what aiokafka logged meanwhile: it says what a bare "Unable to bootstrap" does not."""
    config = kafka if isinstance(kafka, KafkaClient) else KafkaClient(kafka)
    if (isinstance(exc, kafka_errors.SaslAuthenticationFailed | kafka_errors.AuthenticationFailedError)
            or "SaslAuthenticationFailed" in logged or "AuthenticationFailed" in logged):
        return f"authentication failed: wrong user name or password for {config.sasl_mechanism}?"
    if "CERTIFICATE_VERIFY_FAILED" in logged or "SSLCertVerificationError" in logged:
        return "the broker's certificate was not accepted (KAFKA_SSL_CA_FILE, KAFKA_SSL_CHECK_HOSTNAME)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the broker's certificate was not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, kafka_errors.KafkaConnectionError):
        if not await _listening(config.bootstrap_servers):
            return "nothing accepts connections there"
        if not config.uses_tls:
            return (f"the broker dropped the {config.security_protocol} connection (is it a TLS listener? "
                    "see KAFKA_SECURITY_PROTOCOL)")
        if config.security_protocol == "SSL" and config.ssl_cert_file is None:
            return ("the broker dropped the connection (does it require a client certificate? "
                    "KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE)")
        return "the broker dropped the connection (wrong listener or protocol?)"
    return f"{type(exc).__name__}: {exc}"
