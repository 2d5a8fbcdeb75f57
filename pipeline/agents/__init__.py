"""Faust agents: thin loops that read records, call the core, and publish what it returns."""
