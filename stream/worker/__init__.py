"""The worker process: the Faust app, its HTTP views, and the run loop."""
