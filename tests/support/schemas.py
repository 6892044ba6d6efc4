"""What the JSON-schema tests share: the schemas' validators and a valid example event."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from streamrec.stream.records import json_schema
from streamrec.stream.records.schemas import EventLimits, Source

NOW = 1_700_000_100.0
TS = 1_700_000_000.5
HERE = Source("events", 3, 18_234)
LIMITS = EventLimits()


def validator(key: str) -> Draft202012Validator:
    """A checked 2020-12 validator of one generated schema (``json_schema.FILES`` key)."""
    schema = json_schema.build()[json_schema.FILES[key]]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def event(**fields: object) -> dict[str, object]:
    """A valid event with ``fields`` replaced (a value of ... drops the field)."""
    base: dict[str, object] = {"user_id": "u42", "item_id": "i1001", "action": "click", "ts": TS}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}
