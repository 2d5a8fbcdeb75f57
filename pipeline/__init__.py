"""Real-time support SLA monitor on Kafka and Faust."""

__version__ = "0.1.0"
