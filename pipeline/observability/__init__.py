"""Prometheus rules and Grafana dashboards, generated from code and checked in (``sla-pipeline generate``)."""
