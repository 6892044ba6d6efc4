"""Unit tier: the chaos verifier's classification can fail, on hand-made records."""

from __future__ import annotations

import time

import pytest

from streamrec.stream.records.parsing import parse_event
from streamrec.stream.records.schemas import EventLimits, InvalidEventError, Source
from streamrec.stream.tools.chaos.poison import POISON
from streamrec.stream.tools.chaos.verify import (
    Answer,
    Faults,
    Letter,
    SentRecord,
    classify,
    format_table,
)

SENT = [
    SentRecord((0, 0), "a"),
    SentRecord((0, 1), "a"),
    SentRecord((1, 0), "b"),
    SentRecord((1, 1), "b", poison_reason="malformed_json"),
]
GOOD = [Answer((0, 0), "a", 1, False), Answer((0, 1), "a", 2, False), Answer((1, 0), "b", 1, False)]
LETTERS = [Letter((1, 1), "malformed_json")]
FINAL = {"a": 2, "b": 1}


def judge(answers=GOOD, final=FINAL, letters=LETTERS, restore=0):  # type: ignore[no-untyped-def]
    return classify(SENT, answers, letters, final, restore, Faults(kills=1))


def test_a_clean_run_passes_with_replays_and_repeated_dead_letters() -> None:
    replay = Answer((0, 1), "a", 2, True)
    v = judge(answers=[*GOOD, replay], letters=LETTERS * 2)
    assert v.ok, v.problems
    assert (v.events_sent, v.poison_sent, v.replayed_answers) == (3, 1, 1)
    assert v.dead_letter_duplicates == 1 and v.duplicate_deliveries == 0
    assert "PASS" in format_table(v)


def test_a_missing_answer_is_unanswered() -> None:
    v = judge(answers=GOOD[:2])
    assert v.unanswered == 1 and not v.ok
    assert "FAIL" in format_table(v)


def test_a_low_final_count_is_lost() -> None:
    v = judge(final={"a": 1, "b": 1})
    assert v.lost == 1 and v.double_applied == 0 and not v.ok


def test_a_high_final_count_is_double_applied() -> None:
    v = judge(final={"a": 3, "b": 1})
    assert v.double_applied == 1 and v.lost == 0 and not v.ok


def test_two_first_time_answers_with_different_counts_are_double_applied() -> None:
    v = judge(answers=[*GOOD, Answer((0, 1), "a", 3, False)])
    assert v.double_applied == 1 and not v.ok


def test_two_first_time_answers_with_one_count_are_a_duplicate_delivery() -> None:
    v = judge(answers=[*GOOD, Answer((1, 0), "b", 1, False)])
    assert v.duplicate_deliveries == 1 and v.ok


def test_dead_letters_must_match_the_poison() -> None:
    assert not judge(letters=[]).ok
    assert not judge(letters=[Letter((1, 1), "wrong_type")]).ok
    assert not judge(letters=[*LETTERS, Letter((0, 0), "malformed_json")]).ok


def test_a_restore_mismatch_fails() -> None:
    assert not judge(restore=1).ok


@pytest.mark.parametrize("poison", POISON, ids=lambda p: p.name)
def test_each_poison_gets_its_expected_reason(poison) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidEventError) as info:
        parse_event(poison.raw, Source("e", 0, 0), EventLimits(), time.time())
    assert info.value.reason is poison.reason
