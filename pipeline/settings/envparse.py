"""Reading typed values from the environment: one parser per kind of value, and the reader that fills a
settings dataclass from its table of variables. Every parser raises :class:`ConfigError` naming the
variable and saying why.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from pipeline.kafka.client import MECHANISMS, PROTOCOLS, Secret

TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
APP_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
HOSTPORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


def parse_str(key: str, raw: str) -> str:
    return raw


def parse_bootstrap(key: str, raw: str) -> str:
    servers = [s.strip() for s in raw.split(",") if s.strip()]
    if not servers:
        raise ConfigError(key, "must list at least one broker as host:port", raw)
    for server in servers:
        match = HOSTPORT_RE.match(server)
        if not match or not 1 <= int(match.group(2)) <= 65535:
            why = f"each broker must be host:port with a port from 1 to 65535 ({server!r} is not)"
            raise ConfigError(key, why, raw)
    return ",".join(servers)


def parse_app_id(key: str, raw: str) -> str:
    if not APP_ID_RE.match(raw):
        raise ConfigError(key, "must be 1-200 characters of letters, digits, '.', '_' or '-'", raw)
    return raw


def parse_topic(key: str, raw: str) -> str:
    if not TOPIC_RE.match(raw) or raw in {".", ".."}:
        raise ConfigError(key, "must be a Kafka topic name: 1-249 characters of letters, digits, '.', '_' or '-'", raw)
    return raw


def number_in(low: float, high: float, cast: Callable[[str], Any], noun: str) -> Callable[[str, str], Any]:
    bounds = f"{noun} from {plain(low)} to {plain(high)}"

    def parse(key: str, raw: str) -> Any:
        try:
            value = cast(raw)
        except ValueError:
            raise ConfigError(key, f"must be {bounds}", raw) from None
        if not low <= value <= high:  # also rejects NaN
            raise ConfigError(key, f"must be {bounds}", raw)
        return value

    return parse


def plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def int_in(low: int, high: int) -> Callable[[str, str], int]:
    return number_in(low, high, int, "an integer")


def seconds(low: float, high: float) -> Callable[[str, str], float]:
    return number_in(low, high, float, "a number of seconds")


def one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}", raw)
        return value

    return parse


def url(key: str, raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ConfigError(key, "must be an http:// or https:// URL", raw)
    return raw.rstrip("/")


def urls(key: str, raw: str) -> tuple[str, ...]:
    """One or more comma-separated http(s) URLs, none carrying credentials (those come from files)."""
    found = tuple(url(key, part.strip()) for part in raw.split(",") if part.strip())
    if not found:
        raise ConfigError(key, "must name at least one http:// or https:// URL", raw)
    for each in found:
        if "@" in urlsplit(each).netloc:
            raise ConfigError(key, "must not carry credentials; use the *_FILE settings for them")
    if len(set(found)) != len(found):
        raise ConfigError(key, "names the same URL twice", raw)
    return found


def ca_bundle(key: str, path: Path) -> None:
    """A PEM file of CA certificates that TLS can load."""
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(key, f"is not a PEM bundle of CA certificates ({exc})", str(path)) from None


def kafka_version(key: str, raw: str) -> str:
    if not re.match(r"^\d+\.\d+\.\d+$", raw):
        raise ConfigError(key, "must be an Apache Kafka version such as 3.9.1", raw)
    return raw


def existing_file(key: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(key, "must name a readable file; nothing is there", raw)
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"cannot be read ({exc.strerror})", raw) from None
    return path


def directory(key: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(key, "must be a directory; a file is in the way", raw)
    return path


def existing_directory(key: str, raw: str) -> Path:
    path = directory(key, raw)
    if not path.is_dir():
        raise ConfigError(key, "must name an existing directory; nothing is there", raw)
    return path


Parser = Callable[[str, str], Any]


class FromEnv:
    """Reads a settings dataclass from the environment through its ``_ENV`` table (variable -> field, parser)."""

    _ENV: ClassVar[dict[str, tuple[str, Parser]]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str], flag_names: Mapping[str, str] | None = None,
                 **overrides: Any) -> Any:
        """Read settings from ``environ``; ``overrides`` (CLI flags, already typed) win over it.

        An empty variable counts as unset, and so does one a flag overrides. Raises :class:`ConfigError`
        naming the first bad key: the flag as the user wrote it (``flag_names``: field -> ``--flag``) when the
        value came from the command line, else the variable.
        """
        values: dict[str, Any] = {}
        for env_key, (field, parse) in cls._ENV.items():
            raw = environ.get(env_key, "")
            if raw.strip() == "" or overrides.get(field) is not None:
                continue
            values[field] = parse(env_key, raw.strip())
        by_field = {field: (env, parse) for env, (field, parse) in cls._ENV.items()}
        for field, value in overrides.items():
            if value is None:
                continue
            env_key, parse = by_field[field]
            values[field] = parse((flag_names or {}).get(field, env_key), str(value))
        return cls(**values)

    @classmethod
    def fields_from_flags(cls, flags: Mapping[str, Any]) -> dict[str, Any]:
        """The command-line values (by dest) that set one of this class's fields."""
        names = {field for field, _ in cls._ENV.values()}
        return {k: v for k, v in flags.items() if k in names and v is not None}

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs, for the start-up log (no secrets are read here)."""
        return [(env, str(getattr(self, field))) for env, (field, _) in self._ENV.items()]




def secret(key: str, raw: str) -> Secret:
    return Secret(raw)


def secret_file(key: str, raw: str) -> Secret:
    """A secret read from a file (a mounted Kubernetes or Docker secret); a final newline is dropped."""
    path = existing_file(key, raw)
    return Secret(path.read_text().rstrip("\r\n"))


def token_file(key: str, raw: str) -> Secret:
    """A bearer token read from a file: one word of printable characters (it travels in a header or a URL)."""
    token = secret_file(key, raw).reveal()
    if not token:
        raise ConfigError(key, "names an empty file; write the token into it", raw)
    if not token.isprintable() or any(ch.isspace() for ch in token):
        raise ConfigError(key, "must hold one token: printable characters without spaces or line breaks", raw)
    return Secret(token)


def boolean(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(key, "must be true or false", raw)
    return value in ("true", "1", "yes")


def security_protocol(key: str, raw: str) -> str:
    return one_of(*(p.lower() for p in PROTOCOLS))(key, raw).upper()


def sasl_mechanism(key: str, raw: str) -> str:
    return one_of(*(m.lower() for m in MECHANISMS))(key, raw).upper()


def timezone(key: str, raw: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, "must be an IANA time zone such as UTC or Europe/Berlin", raw) from None
    return raw
