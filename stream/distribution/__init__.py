"""Model distribution: the signed, compacted models topic, archives, watcher, hot swap."""
