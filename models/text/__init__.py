"""Item text: the sentence encoder (export, runtime), fused models, rows for new items."""
