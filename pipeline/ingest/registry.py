"""The adapters a gateway serves: for each enabled ticket system, its module
``pipeline.ingest.sources.<name>`` is imported (only then: a source nobody enabled costs nothing) and its
``build(reader, secret)`` called with the checked mapping and the secret. Every mistake stops start-up
with a :class:`ConfigError` naming the key (the mapping's, or the setting's).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from pipeline.errors import ConfigError
from pipeline.ingest import mapping
from pipeline.ingest.adapter import SOURCES, Adapter
from pipeline.kafka.client import Secret

PACKAGE = "pipeline.ingest.sources"


def build(sources: Iterable[str], secret: Callable[[str], Secret | None], mapping_dir: Path | None = None, *,
          importer: Callable[[str], ModuleType] = importlib.import_module) -> dict[str, Adapter]:
    """source name -> its adapter, built from ``mapping_dir``'s ``<source>.toml`` (else the shipped one)."""
    adapters: dict[str, Adapter] = {}
    for source in sources:
        if source not in SOURCES:
            raise ConfigError("SLA_INGEST_SOURCES", f"must list ticket systems among {', '.join(SOURCES)}", source)
        module_name = f"{PACKAGE}.{source}"
        try:
            module = importer(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise ConfigError("SLA_INGEST_SOURCES", f"{source}: this build has no adapter for it yet") from None
        try:
            doc, where = mapping.load(source, mapping_dir)
        except FileNotFoundError:
            raise ConfigError("SLA_INGEST_MAPPING_DIR", f"no {source}.toml there, and none shipped") from None
        adapter = module.build(mapping.Reader(doc, where), secret(source))
        if getattr(adapter, "source", None) != source:
            raise TypeError(f"{module_name}.build gave an adapter whose source is not {source!r}")
        adapters[source] = adapter
    return adapters
