"""A deterministic simulator of ticket lifecycles, and the publisher that plays it to Kafka."""
