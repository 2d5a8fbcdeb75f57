"""Kafka plumbing: topic administration and the embedded single-node broker."""
