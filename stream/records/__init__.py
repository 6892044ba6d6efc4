"""Typed records at the worker's edges and the pure parser of raw Kafka records."""
