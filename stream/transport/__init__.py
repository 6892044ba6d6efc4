"""The seam to Faust, aiokafka and rocksdict: the only package that touches their internals.

- ``delivery``: the consumer that delivers whole fetches (into inboxes) and the idempotent
  producer; ``positions``: its pure per-partition bookkeeping.
- ``batching``: inboxes and micro-batches, acked after their output is delivered.
- ``producing``: one aiokafka record batch per partition.
- ``store``: the table's RocksDB partitions, read and written directly.
- ``diagnose``: the ``SIGUSR1`` dump of the consumer's and the tasks' state.

Each internal relied on is named in its module's docstring and checked by
``tests/unit/test_framework_seam.py``.
"""
