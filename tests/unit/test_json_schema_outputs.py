"""The output records' JSON Schemas: what the worker writes validates, and nothing else does.

Recommendations and dead letters made by the step and the intake (every dead-letter reason
included) must match their committed schemas field for field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamrec.export.runtime import StepSession
from streamrec.stream.records import json_schema
from streamrec.stream.records.intake import parse_records
from streamrec.stream.records.parsing import parse_event
from streamrec.stream.records.schemas import (
    RAW_KEEP_BYTES,
    DeadLetter,
    InvalidEventError,
    Reason,
    Source,
)
from streamrec.stream.serving.model import ServingModel
from streamrec.stream.serving.step import StepConfig, step_batch
from tests.support.schemas import HERE, LIMITS, NOW, TS, event, validator


@pytest.fixture(scope="module")
def model(tiny_bundle: Path) -> ServingModel:
    return ServingModel(StepSession.open(tiny_bundle, provider="cpu", threads=1))


def _recommendations(model: ServingModel) -> list[dict[str, Any]]:
    raws = [
        orjson.dumps(event(user_id="u42", item_id="i1", event_id="e-1")),
        orjson.dumps(event(user_id=7, item_id="i2", action=4, ts=1_700_000_000_500)),
        orjson.dumps(event(user_id="u42", item_id="i3", action="cart", session_id="s")),
    ]
    records = [(raw, Source("events", 3, 100 + i)) for i, raw in enumerate(raws)]
    intake = parse_records(records, False, LIMITS, NOW)
    events = [ev for _, ev in intake.valid]
    assert len(events) == 3
    first = step_batch({}, events, model, StepConfig(), NOW)
    again = step_batch(first.states, events, model, StepConfig(), NOW + 1)  # all replays
    recs = [*first.recommendations, *again.recommendations]
    assert len(recs) == 6 and {r.replayed for r in recs} == {False, True}
    assert all(r.item_ids for r in recs)
    return [orjson.loads(r.to_json()) for r in recs]


def test_recommendations_from_the_step_validate(model: ServingModel) -> None:
    check = validator("recommendation")
    for rec in _recommendations(model):
        errors = [f"{list(e.path)}: {e.message}" for e in check.iter_errors(rec)]
        assert not errors, errors
        assert set(rec) == set(check.schema["properties"]) == set(check.schema["required"])


def _dead_letters(model: ServingModel) -> list[DeadLetter]:
    bad = [
        None,  # a tombstone
        b"{",
        b"\xff\xfe not utf-8",
        "é".encode() * (RAW_KEEP_BYTES // 2 + 10),  # oversized: kept truncated
        orjson.dumps([event()]),
        orjson.dumps(event(action="teleport")),
        orjson.dumps(event(user_id="u\x00")),
    ]
    intake = parse_records([(raw, HERE) for raw in bad], False, LIMITS, NOW)
    letters = list(intake.dead)
    assert len(letters) == len(bad) and any(d.truncated for d in letters)
    # An unknown item refused by the step, dead-lettered as the worker does it.
    unknown = parse_event(orjson.dumps(event(item_id="nope")), HERE, LIMITS, NOW)
    result = step_batch({}, [unknown], model, StepConfig(reject_unknown_items=True), NOW)
    letters += [DeadLetter.from_error(ev.to_json(), ev.source, err) for ev, err in result.rejected]
    assert letters[-1].reason is Reason.UNKNOWN_ITEM
    # Every other reason, through the same constructor the worker's other paths use.
    letters += [
        DeadLetter.from_error(b'{"id": 1}', Source("items", 0, 0), InvalidEventError(r, "x"))
        for r in Reason
    ]
    return letters


def test_dead_letters_from_the_intake_validate(model: ServingModel) -> None:
    check = validator("dead_letter")
    for letter in _dead_letters(model):
        obj = orjson.loads(letter.to_json())
        errors = [f"{list(e.path)}: {e.message}" for e in check.iter_errors(obj)]
        assert not errors, (letter.reason, errors)
        assert set(obj) == set(check.schema["properties"]) == set(check.schema["required"])
    assert check.schema["properties"]["reason"]["enum"] == [r.value for r in Reason]


def test_output_schemas_refuse_what_the_worker_never_writes() -> None:
    check = validator("recommendation")
    good = {
        "user_id": "u42",
        "items": [{"item_id": "i1", "score": 1.5}],
        "buy_probability": 0.5,
        "model_version": "m",
        "event_ts": TS,
        "emitted_ts": NOW,
        "source": HERE.to_dict(),
        "event_count": 1,
        "event_id": None,
        "replayed": False,
    }
    assert check.is_valid(good)
    for broken in (
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "event_id"},
        {**good, "buy_probability": 1.5},
        {**good, "event_ts": TS * 1000},  # milliseconds never leave the worker
        {**good, "source": {**HERE.to_dict(), "offset": -1}},
        {**good, "items": [{"item_id": "i1"}]},
    ):
        assert not check.is_valid(broken), broken
    letter = {"reason": "nope", "detail": "", "raw": "", "source": HERE.to_dict(), "truncated": 0}
    assert len(list(validator("dead_letter").iter_errors(letter))) == 2


def test_a_dataclass_field_the_schema_does_not_describe_is_refused() -> None:
    @dataclasses.dataclass
    class Grown:
        user_id: str
        added: int

    wire = {"user_id": {"type": "string"}}
    with pytest.raises(json_schema.SchemaDriftError, match="added"):
        json_schema._record(Grown, "t", "d", wire, {})
