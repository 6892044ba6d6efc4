"""Settings (one typed object per process) and the Kafka topics streamrec declares and creates."""
