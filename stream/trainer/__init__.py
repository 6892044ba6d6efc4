"""The online trainer: the replay window and the fine-tune, gate and promote loop."""
