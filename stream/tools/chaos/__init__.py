"""`streamrec chaos`: a fault harness for the worker, after Kafka Streams' exactly-once tests.

A local 3-broker cluster (:mod:`.cluster`), a fleet of worker processes (:mod:`.fleet`), a
producer of valid and poison events (:mod:`.load`), a fault schedule (:mod:`.faults`), the
collection of every output (:mod:`.collect`, :mod:`.stores`) and the verifier
(:mod:`.verify`), wired by :mod:`.run`.
"""
