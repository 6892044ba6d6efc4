"""The item catalog in the worker: items topic, metadata table, cold-start rows."""
