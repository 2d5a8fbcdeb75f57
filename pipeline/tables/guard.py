"""Failures of the state store, told apart from failures of our code.

RocksDB (through rocksdict) raises a bare ``Exception`` whose message starts ``IO error:`` when the disk is
full or read-only, and Faust's table layer adds nothing to it. Such a failure is the store's, not the
record's: :func:`storage` turns it into :class:`StorageError`, which the agents do not dead-letter. They
stop the worker instead (:func:`halt`), without committing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from pipeline.errors import StorageError

log = logging.getLogger(__name__)

EXIT_STORAGE = 74  # EX_IOERR (sysexits.h): an orchestrator restarts the worker; the logs say why


@contextlib.contextmanager
def storage(table: str, action: str) -> Iterator[None]:
    """Run one table operation; a failure of the store itself becomes :class:`StorageError`.

    That is an ``OSError``, or the bare ``Exception`` rocksdict raises with RocksDB's status
    (``IO error: ...``, ``Corruption: ...``). Faust's own exceptions (e.g. ``PartitionsMismatch`` while a
    changelog topic's metadata is not known yet) and our bugs pass through unchanged.
    """
    try:
        yield
    except Exception as exc:
        if type(exc) is Exception or isinstance(exc, OSError):
            raise StorageError(f"{action} table {table!r} failed: {exc}") from exc
        raise


def halt(exc: StorageError) -> NoReturn:
    """Stop the worker at once: no commit, no graceful shutdown that could commit the record it was on."""
    log.critical("state store failed: %s. Stopping the worker without committing (exit %d); it resumes from "
                 "its last committed offset, losing nothing, once the data directory is writable again "
                 "(free space, fix the volume or its permissions). Runbook: storage-failure.", exc, EXIT_STORAGE)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_STORAGE)


def check_writable(data_dir: Path, probe_bytes: int = 1 << 20) -> None:
    """Before start: the data directory takes a write of ``probe_bytes`` (1 MiB), synced; else StorageError.

    A worker restarted onto a full or read-only volume then says so in one line at once, instead of
    failing somewhere inside RocksDB's start-up.
    """
    probe = data_dir / ".sla-pipeline-write-probe"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"\0" * probe_bytes)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise StorageError(f"SLA_DATA_DIR {data_dir} cannot take the worker's state: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
