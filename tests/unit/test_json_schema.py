"""The records' JSON Schemas: committed as generated, and in agreement with the parser.

Every example goes through both the event schema (``jsonschema``) and the parser; the
invalid ones must be refused by both for the same dead-letter reason, where a failed schema
keyword maps to a reason as docs/schemas/README.md tells. The examples where the two differ
are listed too, each with the sentence of the schema's description that says so.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from streamrec.models.data.actions import DEFAULT_ACTION_NAMES, Action
from streamrec.stream.config.base import DeploymentSettings
from streamrec.stream.records import json_schema
from streamrec.stream.records.parsing import parse_event
from streamrec.stream.records.schemas import (
    MAX_INT_ID,
    EventLimits,
    InvalidEventError,
    Reason,
)
from tests.support.schemas import HERE, LIMITS, NOW, event, validator

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "docs" / "schemas"


def schema_reasons(obj: object) -> set[Reason]:
    """The dead-letter reasons the schema's failed keywords stand for (docs/schemas/README.md).

    A ``type`` failure hides the others of its field: the parser checks the type first.
    """
    errors = list(validator("event").iter_errors(obj))
    typed = {tuple(e.path) for e in errors if e.validator == "type"}
    return {_reason(e) for e in errors if e.validator == "type" or tuple(e.path) not in typed}


def _reason(error: ValidationError) -> Reason:
    if not error.path:  # the message itself: not an object, or a required field absent
        return Reason.NOT_AN_OBJECT if error.validator == "type" else Reason.MISSING_FIELD
    if error.validator == "type":
        return Reason.MISSING_FIELD if error.instance is None else Reason.WRONG_TYPE
    if error.validator == "enum":
        return Reason.UNKNOWN_ACTION
    return Reason.INVALID_VALUE


def parse(raw: bytes) -> Reason | None:
    """The parser's reason for ``raw`` (None: accepted)."""
    try:
        parse_event(raw, HERE, LIMITS, NOW)
    except InvalidEventError as exc:
        return exc.reason
    return None


# --- (a) the committed files ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(json_schema.FILES.values()))
def test_committed_schema_is_what_the_code_generates(name: str) -> None:
    path = SCHEMA_DIR / name
    expected = json_schema.render(json_schema.build()[name])
    assert path.is_file(), f"{path} is missing: run `make schemas` and commit it"
    assert path.read_text(encoding="utf-8") == expected, f"{path} is stale: run `make schemas`"


def test_no_stray_schema_files_and_main_writes_the_same(tmp_path: Path) -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(json_schema.FILES.values())
    assert json_schema.main(["--out", str(tmp_path)]) == 0
    for name in json_schema.FILES.values():
        assert (tmp_path / name).read_bytes() == (SCHEMA_DIR / name).read_bytes()


def test_schemas_are_valid_2020_12_and_rendered_stably() -> None:
    for schema in json_schema.build().values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        text = json_schema.render(schema)
        assert text.endswith("}\n") and text.startswith('{\n  "$schema"')


def test_default_limits_are_the_deployment_defaults() -> None:
    """The committed files describe a deployment that sets no limit of its own."""
    defaults = {k: f.default for k, f in DeploymentSettings.model_fields.items()}
    deployment = EventLimits(
        max_payload_bytes=defaults["max_payload_bytes"],
        max_id_length=defaults["max_id_length"],
        max_future_s=defaults["max_event_future_s"],
        max_age_s=defaults["max_event_age_s"],
    )
    assert deployment == LIMITS


def test_limits_reach_the_schema() -> None:
    limits = EventLimits(max_payload_bytes=1000, max_id_length=8, max_age_s=3600.0)
    schema = json_schema.event_schema(limits)
    assert schema["properties"]["user_id"]["maxLength"] == 8
    assert "at most 1000 bytes" in schema["description"]
    assert "3600 s behind" in schema["description"]
    assert json_schema.recommendation_schema(limits)["properties"]["user_id"]["maxLength"] == 8


# --- (b) valid events ----------------------------------------------------------------------------
VALID: list[tuple[str, dict[str, object]]] = [
    ("string ids, seconds", event()),
    ("integer ids", event(user_id=42, item_id=0)),
    ("largest integer id", event(item_id=MAX_INT_ID)),
    ("integer ts", event(ts=1_700_000_000)),
    ("ts in milliseconds", event(ts=1_700_000_000_500)),
    ("optional ids", event(session_id="s-3", event_id="e-9")),
    ("optional integer ids", event(session_id=3, event_id=9)),
    ("optional ids null", event(session_id=None, event_id=None)),
    ("id of the longest length", event(user_id="u" * LIMITS.max_id_length)),
    ("unicode id with an emoji joiner", event(item_id="用户-ü-👩\u200d💻")),
    ("inner spaces", event(item_id="red shoe 42")),
    ("surrounding spaces (stripped)", event(user_id=" u42 ")),
    ("unknown fields are ignored", event(page={"nested": [1, {"deeper": True}]}, ref=None)),
    *[(f"action name {n}", event(action=n)) for n in sorted(DEFAULT_ACTION_NAMES)],
    *[(f"action code {int(a)}", event(action=int(a))) for a in Action if a is not Action.PAD],
    *[(f"schema example {i}", e) for i, e in enumerate(json_schema.event_schema()["examples"])],
]


@pytest.mark.parametrize(("label", "obj"), VALID, ids=[label for label, _ in VALID])
def test_valid_events_pass_schema_and_parser(label: str, obj: dict[str, object]) -> None:
    errors = [e.message for e in validator("event").iter_errors(obj)]
    assert not errors, f"schema refuses {label}: {errors}"
    assert parse(orjson.dumps(obj)) is None, f"parser refuses {label}"


def test_parser_reads_valid_examples_as_the_schema_describes() -> None:
    ms = parse_event(orjson.dumps(event(ts=1_700_000_000_500, user_id=7)), HERE, LIMITS, NOW)
    assert ms.ts == 1_700_000_000.5 and ms.user_id == "7"


# --- (c) invalid events --------------------------------------------------------------------------
MISSING, TYPE, VALUE, ACTION = (
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.INVALID_VALUE,
    Reason.UNKNOWN_ACTION,
)
INVALID: list[tuple[str, object, Reason]] = [
    ("no user_id", event(user_id=...), MISSING),
    ("no item_id", event(item_id=...), MISSING),
    ("no action", event(action=...), MISSING),
    ("no ts", event(ts=...), MISSING),
    ("null item_id", event(item_id=None), MISSING),
    ("event wrapped in an object", {"event": event()}, MISSING),
    ("empty object", {}, MISSING),
    ("user_id nested in an object", event(user_id={"id": "u42"}), TYPE),
    ("user_id in a list", event(user_id=["u42"]), TYPE),
    ("boolean item_id", event(item_id=True), TYPE),
    ("fractional item_id", event(item_id=1.5), TYPE),
    ("session_id a list", event(session_id=[]), TYPE),
    ("ts a string", event(ts="1700000000"), TYPE),
    ("ts boolean", event(ts=True), TYPE),
    ("ts an object", event(ts={"s": 1}), TYPE),
    ("action boolean", event(action=True), TYPE),
    ("action nested", event(action={"name": "click"}), TYPE),
    ("action fractional", event(action=1.5), TYPE),
    ("unknown action name", event(action="teleport"), ACTION),
    ("long action name", event(action="c" * 40), ACTION),
    ("action code 0 (padding)", event(action=0), ACTION),
    ("action code 5", event(action=5), ACTION),
    ("negative action code", event(action=-1), ACTION),
    ("id too long", event(user_id="u" * (LIMITS.max_id_length + 1)), VALUE),
    ("session_id too long", event(session_id="s" * (LIMITS.max_id_length + 1)), VALUE),
    ("empty id", event(item_id=""), VALUE),
    ("blank id", event(item_id=" \u3000 "), VALUE),
    ("NUL inside an id", event(user_id="u\x004"), VALUE),
    ("newline inside an id", event(user_id="u\n42"), VALUE),
    ("DEL inside an id", event(item_id="a\x7fb"), VALUE),
    ("C1 control inside an id", event(event_id="a\x85b"), VALUE),
    ("negative integer id", event(item_id=-1), VALUE),
    ("negative event_id", event(event_id=-5), VALUE),
    ("integer id of 2^63", event(item_id=MAX_INT_ID + 1), VALUE),
    ("integer id beyond 64 bits (a float)", event(item_id=1e19), VALUE),
    ("ts zero", event(ts=0), VALUE),
    ("ts negative", event(ts=-5.0), VALUE),
    ("ts too large for ms", event(ts=1e14), VALUE),
    ("a list", [event()], Reason.NOT_AN_OBJECT),
    ("a string", "u42 clicked i1001", Reason.NOT_AN_OBJECT),
    ("a number", 42, Reason.NOT_AN_OBJECT),
    ("null", None, Reason.NOT_AN_OBJECT),
]


@pytest.mark.parametrize(("label", "obj", "reason"), INVALID, ids=[x[0] for x in INVALID])
def test_invalid_events_are_refused_by_both_for_one_reason(
    label: str, obj: object, reason: Reason
) -> None:
    assert not validator("event").is_valid(obj), f"schema accepts {label}"
    from_schema = schema_reasons(obj)
    assert from_schema == {reason}, f"{label}: schema says {from_schema}, expected {reason}"
    assert parse(orjson.dumps(obj)) == reason, f"{label}: parser disagrees"


# --- where the two differ, each as the schema says ----------------------------------------------
def _nested(depth: int) -> tuple[object, bytes]:
    obj: object = []
    for _ in range(depth - 1):
        obj = [obj]
    head = orjson.dumps(event())[:-1]
    return {**event(), "meta": obj}, head + b',"meta":' + b"[" * depth + b"]" * depth + b"}"


DESCRIBED: list[tuple[str, object, bytes, Reason, str]] = [
    (
        "payload over the byte limit",
        event(pad="x" * LIMITS.max_payload_bytes),
        orjson.dumps(event(pad="x" * LIMITS.max_payload_bytes)),
        Reason.PAYLOAD_TOO_LARGE,
        f"at most {LIMITS.max_payload_bytes} bytes",
    ),
    ("nesting past orjson's depth", *_nested(1100), Reason.MALFORMED_JSON, "nesting at most 1024"),
    (
        "lone surrogate escape",
        event(session_id="s\ud800"),
        orjson.dumps(event())[:-1] + b',"session_id":"s\\ud800"}',
        Reason.MALFORMED_JSON,
        "no lone surrogate escape",
    ),
    ("id written as 7.0", event(item_id=7.0), orjson.dumps(event(item_id=7.0)), TYPE, "7.0"),
    ("action code 4.0", event(action=4.0), orjson.dumps(event(action=4.0)), TYPE, "7.0"),
    (
        "ts two days ahead",
        event(ts=NOW + 2 * 86_400),
        orjson.dumps(event(ts=NOW + 2 * 86_400)),
        VALUE,
        "at most 86400 s ahead of the worker's clock",
    ),
]


@pytest.mark.parametrize(
    ("label", "obj", "raw", "reason", "said"), DESCRIBED, ids=[x[0] for x in DESCRIBED]
)
def test_rules_only_the_description_states(
    label: str, obj: object, raw: bytes, reason: Reason, said: str
) -> None:
    """The schema accepts these, the parser does not, and the description says why."""
    assert not list(validator("event").iter_errors(obj)), f"schema refuses {label}"
    assert parse(raw) == reason
    assert said in json_schema.event_schema()["description"]


LENIENT: list[tuple[str, dict[str, object], str, str]] = [
    ("action name in capitals", event(action="Click"), "action", "any letter case"),
    ("action name with spaces", event(action=" buy "), "action", "surrounding whitespace"),
    ("id with a trailing newline", event(user_id="u42\n"), "user_id", "strips it"),
    (
        "id at the limit plus spaces",
        event(item_id="i" * LIMITS.max_id_length + "  "),
        "item_id",
        "counts it",
    ),
]


@pytest.mark.parametrize(("label", "obj", "field", "said"), LENIENT, ids=[x[0] for x in LENIENT])
def test_worker_is_more_lenient_where_the_schema_says(
    label: str, obj: dict[str, object], field: str, said: str
) -> None:
    """The schema asks for the plain form of these, the worker takes them, the field says so."""
    assert list(validator("event").iter_errors(obj)), f"schema accepts {label}"
    assert parse(orjson.dumps(obj)) is None, f"parser refuses {label}"
    assert said in json_schema.event_schema()["properties"][field]["description"]
