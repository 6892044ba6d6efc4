"""JSON Schemas (draft 2020-12) of the worker's edge records, built from the parser's constants.

Three schemas: the input event, the recommendation and the dead letter. They are derived from
:mod:`streamrec.stream.records.schemas` (limits, action names, reasons, the output dataclasses)
so that they change when the code does; ``make schemas`` writes them to ``docs/schemas``.

The event schema is a producer's contract: a message it accepts, and that meets the rules its
``description`` lists (those JSON Schema cannot express), is accepted by the worker. Where the
worker is more lenient (it strips ids, matches action names in any case) the schema asks for
the plain form and says so. The output schemas describe exactly what the worker writes.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from streamrec.models.data.actions import DEFAULT_ACTION_NAMES, Action
from streamrec.stream.records.schemas import (
    MAX_INT_ID,
    MAX_TOPIC_LENGTH,
    MS_THRESHOLD,
    RAW_KEEP_BYTES,
    DeadLetter,
    EventLimits,
    Reason,
    Recommendation,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
MAX_KAFKA_PARTITION = 2**31 - 1  # partitions are int32 in Kafka's protocol
ORJSON_MAX_DEPTH = 1024  # orjson refuses deeper nesting
FILES = {
    "event": "event.schema.json",
    "recommendation": "recommendation.schema.json",
    "dead_letter": "dead-letter.schema.json",
}
DEFAULT_DIR = Path("docs/schemas")

Schema = dict[str, Any]


class SchemaDriftError(RuntimeError):
    """A record dataclass has fields this module does not describe (or lost some it does)."""


def _char_class(codes: list[int]) -> str:
    r"""Regex class body of ``codes`` as ``\uXXXX`` ranges (read alike by ECMA-262 and Python)."""
    if any(c > 0xFFFF for c in codes):
        raise ValueError("only BMP characters can be written as \\uXXXX")
    parts: list[str] = []
    start = prev = codes[0]
    for c in [*codes[1:], -1]:
        if c == prev + 1:
            prev = c
            continue
        parts.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
        start = prev = c
    return "".join(parts)


@cache
def _id_patterns() -> tuple[str, str]:
    """(a control character, a character that is neither whitespace nor control), as regexes.

    The parser refuses category Cc inside ids and ids that ``str.strip`` leaves empty; the
    whitespace set is Python's own, so that one non-whitespace character is what it means there.
    """
    control = [c for c in range(0x10000) if unicodedata.category(chr(c)) == "Cc"]
    space = [c for c in range(0x10000) if chr(c).isspace() and c not in control]
    return f"[{_char_class(control)}]", f"[^{_char_class(sorted(control + space))}]"


def _id(max_length: int, *, nullable: bool, what: str) -> Schema:
    control, visible = _id_patterns()
    types = ["string", "integer", "null"] if nullable else ["string", "integer"]
    absent = " Null is the same as leaving it out." if nullable else ""
    return {
        "description": f"{what}: a string of 1 to {max_length} characters, at least one of them "
        "not whitespace and none a control character (U+0000-U+001F, U+007F-U+009F), or an "
        "integer in 0..2^63-1 (read as its decimal string). Send it without surrounding "
        "whitespace: the worker strips it before checking, this schema counts it." + absent,
        "type": types,
        "minLength": 1,
        "maxLength": max_length,
        "pattern": visible,
        "not": {"type": "string", "pattern": control},
        "minimum": 0,
        "maximum": MAX_INT_ID,
    }


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _action() -> Schema:
    codes = list(range(Action.CLICK, Action.BUY + 1))  # what the parser takes as a code
    by_action = {
        Action(code).name.lower(): sorted(n for n, a in DEFAULT_ACTION_NAMES.items() if a == code)
        for code in codes
    }
    names = "; ".join(f"{a}: {', '.join(n)}" for a, n in by_action.items())
    numbered = ", ".join(f"{c} {Action(c).name.lower()}" for c in codes)
    return {
        "description": f"What the user did: a name ({names}) or its code ({numbered}). The "
        "worker also accepts the names in any letter case and with surrounding whitespace; "
        "this schema takes them as listed.",
        "type": ["string", "integer"],
        "enum": [*sorted(DEFAULT_ACTION_NAMES), *codes],
    }


def _clock(limits: EventLimits) -> str:
    """The bounds on ts relative to the worker's clock, in words."""
    ahead = f"at most {limits.max_future_s:g} s ahead of the worker's clock"
    return ahead if limits.max_age_s is None else f"{ahead} and {limits.max_age_s:g} s behind it"


def _ts(limits: EventLimits) -> Schema:
    ms_top = MS_THRESHOLD * 1000.0
    return {
        "description": f"When it happened: Unix time in seconds (below {MS_THRESHOLD:g}), or in "
        f"milliseconds (from {MS_THRESHOLD:g}, below {ms_top:g}); {_clock(limits)}.",
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": _number(ms_top),
    }


def event_schema(limits: EventLimits | None = None) -> Schema:
    """Schema of one input message (``limits``: the deployment defaults when None)."""
    lim = limits or EventLimits()
    n = lim.max_id_length
    unexpressed = [
        f"(1) the message is at most {lim.max_payload_bytes} bytes of UTF-8 JSON; a larger one "
        "is dead-lettered as payload_too_large",
        f"(2) it is JSON that orjson reads: nesting at most {ORJSON_MAX_DEPTH} deep, numbers "
        "within a double's range, no lone surrogate escape such as \\ud800, neither empty nor "
        "a tombstone; otherwise malformed_json",
        "(3) ids and action codes are written as JSON integers (7, not 7.0 or 7e0): JSON Schema "
        "does not tell the two apart, the worker dead-letters 7.0 as wrong_type",
        f"(4) ts, in seconds, is {_clock(lim)}; otherwise invalid_value",
    ]
    return {
        "$schema": DRAFT,
        "title": "streamrec input event",
        "description": "One Kafka message on the events topic, keyed by user id. Fields not "
        "listed are ignored. The worker also checks what JSON Schema cannot express: "
        + "; ".join(unexpressed)
        + f". Generated with max_payload_bytes={lim.max_payload_bytes}, max_id_length={n}, "
        f"max_future_s={lim.max_future_s:g}, max_age_s={lim.max_age_s}.",
        "type": "object",
        "required": ["user_id", "item_id", "action", "ts"],
        "properties": {
            "user_id": _id(n, nullable=False, what="Who acted (also the message key)"),
            "item_id": _id(n, nullable=False, what="The item acted on"),
            "action": _action(),
            "ts": _ts(lim),
            "session_id": _id(n, nullable=True, what="Optional session"),
            "event_id": _id(n, nullable=True, what="Optional id, echoed in the recommendation"),
        },
        "examples": [
            {"user_id": "u42", "item_id": 1001, "action": "click", "ts": 1700000000.5},
            {"user_id": 7, "item_id": "sku-9", "action": 4, "ts": 1700000000500, "event_id": "e1"},
        ],
    }


def _source(what: str) -> Schema:
    return {
        "description": f"Where {what} was read: topic, partition and offset.",
        "type": "object",
        "additionalProperties": False,
        "required": ["topic", "partition", "offset"],
        "properties": {
            "topic": {"type": "string", "minLength": 1, "maxLength": MAX_TOPIC_LENGTH},
            "partition": {"type": "integer", "minimum": 0, "maximum": MAX_KAFKA_PARTITION},
            "offset": {"type": "integer", "minimum": 0, "maximum": MAX_INT_ID},
        },
    }


def _prop(text: str, kind: str | list[str], **keywords: Any) -> Schema:
    return {"description": text, "type": kind, **keywords}


def _record(
    cls: type, title: str, text: str, wire: dict[str, Schema], made_of: dict[str, tuple[str, ...]]
) -> Schema:
    """Object schema of ``cls``'s JSON form; ``made_of``: wire names not named for one field."""
    covered = {f for name in wire for f in made_of.get(name, (name,))}
    actual = {f.name for f in fields(cls)}
    if covered != actual:
        missing, gone = sorted(actual - covered), sorted(covered - actual)
        raise SchemaDriftError(f"{cls.__name__}: undescribed {missing}, gone {gone}")
    return {
        "$schema": DRAFT,
        "title": title,
        "description": text,
        "type": "object",
        "additionalProperties": False,
        "required": sorted(wire),
        "properties": wire,
    }


def recommendation_schema(limits: EventLimits | None = None) -> Schema:
    """Schema of one record of the recommendations topic (``Recommendation.to_json``)."""
    n = (limits or EventLimits()).max_id_length
    control, _ = _id_patterns()
    item = _prop(
        "One recommended item.",
        "object",
        additionalProperties=False,
        required=["item_id", "score"],
        properties={"item_id": {"type": "string"}, "score": {"type": "number"}},
    )
    wire = {
        "user_id": _prop(
            "The event's user id, stripped (an integer id as its decimal string).",
            "string",
            minLength=1,
            maxLength=n,
            **{"not": {"pattern": control}},
        ),
        "items": _prop(
            "The top-K items, best first; JSON Schema cannot check that the scores do not "
            "increase down the list. Items the settings exclude (by default those the user "
            "recently bought) are left out.",
            "array",
            items=item,
        ),
        "buy_probability": _prop(
            "The model's probability that the user's next action is a buy.",
            "number",
            minimum=0,
            maximum=1,
        ),
        "model_version": _prop("Version of the model that scored.", "string"),
        "event_ts": _prop(
            "The event's ts in Unix seconds (milliseconds converted).",
            "number",
            exclusiveMinimum=0,
            exclusiveMaximum=_number(MS_THRESHOLD),
        ),
        "emitted_ts": _prop("The worker's clock when it scored.", "number", exclusiveMinimum=0),
        "source": _source("the event"),
        "event_count": _prop("Events applied to this user's state so far.", "integer", minimum=0),
        "event_id": _prop("The event's event_id, or null.", ["string", "null"]),
        "replayed": _prop(
            "True when the event had been applied before (a replay after a restart): these are "
            "the user's current recommendations and the event was not applied again.",
            "boolean",
        ),
    }
    text = (
        "One record per applied or replayed event on the recommendations topic, keyed by user id."
    )
    return _record(
        Recommendation, "streamrec recommendation", text, wire, {"items": ("item_ids", "scores")}
    )


def dead_letter_schema() -> Schema:
    """Schema of one record of the dead-letter topic (``DeadLetter.to_json``)."""
    wire = {
        "reason": _prop(
            "Why the message was not applied.", "string", enum=[r.value for r in Reason]
        ),
        "detail": _prop("What exactly was wrong.", "string"),
        "raw": _prop(
            f"The message as text (invalid UTF-8 replaced by U+FFFD), cut to its first "
            f"{RAW_KEEP_BYTES} bytes; empty for a tombstone.",
            "string",
            maxLength=RAW_KEEP_BYTES,
        ),
        "source": _source("the message"),
        "truncated": _prop("True when raw was cut.", "boolean"),
    }
    text = (
        "One unkeyed record per message that was not applied: bad input, an unknown item, a "
        "bad catalog record, or a failure of the worker on it."
    )
    return _record(DeadLetter, "streamrec dead letter", text, wire, {})


def build(limits: EventLimits | None = None) -> dict[str, Schema]:
    """The three schemas by file name (see ``FILES``)."""
    return {
        FILES["event"]: event_schema(limits),
        FILES["recommendation"]: recommendation_schema(limits),
        FILES["dead_letter"]: dead_letter_schema(),
    }


def render(schema: Schema) -> str:
    """The committed text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path = DEFAULT_DIR, limits: EventLimits | None = None) -> list[Path]:
    """Write the three schema files into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in build(limits).items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m streamrec.stream.records.json_schema`` (``make schemas``)."""
    parser = argparse.ArgumentParser(description="Write the records' JSON Schemas.")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="target folder")
    args = parser.parse_args(argv)
    for path in write_schemas(args.out):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
