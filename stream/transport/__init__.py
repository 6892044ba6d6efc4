"""The seam to Faust and aiokafka: fetch-level delivery, micro-batching, record-batch producing."""
