"""The models: the served recurrent recommender, SASRec, checkpoints, the text projection."""
