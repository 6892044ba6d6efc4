"""Training and evaluation: loop, metrics, baselines, online fine-tuning, gate."""
