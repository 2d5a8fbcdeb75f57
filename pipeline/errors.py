"""The project's own exceptions, one line each where possible."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(PipelineError):
    """A configuration value is wrong; the message names the key and says why."""

    def __init__(self, key: str, why: str, value: object = None) -> None:
        self.key = key
        self.why = why
        self.value = value
        shown = "" if value is None else f", got {value!r}"
        super().__init__(f"{key}: {why}{shown}")


class BrokerError(PipelineError):
    """The embedded Kafka broker could not be set up, started or stopped."""


class StorageError(PipelineError):
    """The worker's state store failed (disk full, read-only, an I/O error): not the data's fault.

    The worker stops without committing the record it was on; once the store works again, a restart
    resumes from the last committed offset and loses nothing.
    """
