"""Faust tables and the adapters that give the processor a plain view of them."""
