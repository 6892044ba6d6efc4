"""The hot path: user state and its codec, the pure per-batch step, the processor, sends."""
