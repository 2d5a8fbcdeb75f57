"""One adapter per ticket system; each module has ``build(mapping, secret) -> Adapter`` and its mapping's
defaults in ``pipeline/resources/ingest/<source>.toml``."""
