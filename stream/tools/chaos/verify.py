"""The verdict of a chaos run: classify every input and output, and print one table.

The worker is at-least-once on output and exactly-once on state, so:

- every valid input (named by its Kafka position) has at least one recommendation, else it
  is **unanswered**;
- a user's final ``event_count`` equals the valid events sent to that user: more is
  **double-applied**, less is **lost**; two first-time (not ``replayed``) answers to one
  input with different counts are double-applied too;
- two first-time answers to one input with the same count are **duplicate deliveries**:
  allowed without Kafka transactions (a kill between send and commit), counted, not failed;
- each poison message has exactly one distinct dead letter with its expected reason
  (repeated dead letters for one position are duplicates, like recommendations);
- a fresh worker restoring every partition from the changelog holds the same bytes as the
  live stores (**restore mismatches**, computed in :mod:`.stores`).

Nothing here touches Kafka: the records are collected first (:mod:`.collect`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

Position = tuple[int, int]  # (partition, offset) in the events topic


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One record of the events topic: a valid event for ``user`` or a poison message."""

    position: Position
    user: str
    poison_reason: str | None = None  # the dead-letter reason it must get; None: valid


@dataclass(frozen=True, slots=True)
class Answer:
    """One recommendation read back from the output topic."""

    position: Position
    user: str
    event_count: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter read back from the dead-letter topic."""

    position: Position
    reason: str


@dataclass(frozen=True, slots=True)
class Faults:
    """What the harness did to the system while the load ran."""

    kills: int = 0
    fresh_dir_restarts: int = 0
    bounces: int = 0
    added: int = 0
    removed: int = 0
    rebalances: int = 0
    unexpected_exits: int = 0


@dataclass(frozen=True)
class Verdict:
    """Every count of the table; ``ok`` when nothing was lost, doubled or left unanswered."""

    faults: Faults
    events_sent: int
    poison_sent: int
    users: int
    answers: int
    replayed_answers: int
    lost: int
    double_applied: int
    unanswered: int
    duplicate_deliveries: int
    restore_mismatches: int
    dead_letters: int
    dead_letter_duplicates: int
    dead_letters_expected: dict[str, int] = field(default_factory=dict)
    dead_letters_found: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the first few offending records

    @property
    def dead_letters_match(self) -> bool:
        """Distinct dead letters, by reason, are exactly the poison sent."""
        return self.dead_letters_expected == self.dead_letters_found

    @property
    def ok(self) -> bool:
        """The run passes: nothing lost, doubled, unanswered or restored wrong."""
        return (
            self.lost == 0
            and self.double_applied == 0
            and self.unanswered == 0
            and self.restore_mismatches == 0
            and self.dead_letters_match
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        out = asdict(self)
        out["dead_letters_match"] = self.dead_letters_match
        out["ok"] = self.ok
        return out


MAX_PROBLEMS = 20


def classify(
    sent: Iterable[SentRecord],
    answers: Iterable[Answer],
    letters: Iterable[Letter],
    final_counts: Mapping[str, int],
    restore_mismatches: int,
    faults: Faults,
) -> Verdict:
    """Judge a run from what was sent, what came out and each user's final event count."""
    sent = list(sent)
    valid = {r.position: r.user for r in sent if r.poison_reason is None}
    poison = {r.position: r.poison_reason for r in sent if r.poison_reason is not None}
    per_user: Counter[str] = Counter(valid.values())
    problems: list[str] = []

    def note(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    answers = list(answers)
    first_time: dict[Position, list[int]] = defaultdict(list)
    answered: set[Position] = set()
    for a in answers:
        answered.add(a.position)
        if not a.replayed:
            first_time[a.position].append(a.event_count)

    unanswered = 0
    for pos, user in sorted(valid.items()):
        if pos not in answered:
            unanswered += 1
            note(f"unanswered: {user} at {pos[0]}:{pos[1]}")

    double, duplicates = 0, 0
    for pos, counts in sorted(first_time.items()):
        if len(set(counts)) > 1:
            double += len(set(counts)) - 1
            note(f"double-applied: {pos[0]}:{pos[1]} answered with counts {sorted(set(counts))}")
        duplicates += len(counts) - len(set(counts))

    lost = 0
    for user in sorted(per_user.keys() | final_counts.keys()):
        expected, final = per_user.get(user, 0), final_counts.get(user, 0)
        if final > expected:
            double += final - expected
            note(f"double-applied: {user} has event_count {final}, {expected} sent")
        elif final < expected:
            lost += expected - final
            note(f"lost: {user} has event_count {final}, {expected} sent")

    distinct: dict[Position, str] = {}
    letter_count = 0
    for d in letters:
        letter_count += 1
        distinct.setdefault(d.position, d.reason)
    found = Counter(reason for pos, reason in distinct.items() if pos in poison)
    for pos in sorted(distinct.keys() - poison.keys()):
        found[f"unexpected:{distinct[pos]}"] += 1
        note(f"dead letter for a valid event at {pos[0]}:{pos[1]}: {distinct[pos]}")
    for pos in sorted(poison.keys() - distinct.keys()):
        note(f"no dead letter for poison at {pos[0]}:{pos[1]} ({poison[pos]})")

    return Verdict(
        faults=faults,
        events_sent=len(valid),
        poison_sent=len(poison),
        users=len(per_user),
        answers=len(answers),
        replayed_answers=sum(1 for a in answers if a.replayed),
        lost=lost,
        double_applied=double,
        unanswered=unanswered,
        duplicate_deliveries=duplicates,
        restore_mismatches=restore_mismatches,
        dead_letters=len(distinct),
        dead_letter_duplicates=letter_count - len(distinct),
        dead_letters_expected=dict(sorted(Counter(poison.values()).items())),
        dead_letters_found=dict(sorted(found.items())),
        problems=problems,
    )


def format_table(v: Verdict, wall_s: float | None = None) -> str:
    """The one table a run prints (``FAIL`` marks a check that failed)."""
    f = v.faults
    letters = ", ".join(f"{k} {n}" for k, n in v.dead_letters_found.items()) or "none"
    rows: list[tuple[str, str, str]] = [
        ("worker kills (SIGKILL)", f"{f.kills} ({f.fresh_dir_restarts} on a fresh dir)", ""),
        ("broker bounces", str(f.bounces), ""),
        ("workers added / removed", f"{f.added} / {f.removed}", ""),
        ("rebalances (group generations)", str(f.rebalances), ""),
        ("unexpected worker exits", str(f.unexpected_exits), ""),
        ("events sent (valid)", f"{v.events_sent} to {v.users} users", ""),
        ("recommendations read", f"{v.answers} ({v.replayed_answers} replayed)", ""),
        ("lost", str(v.lost), _mark(v.lost == 0)),
        ("double-applied", str(v.double_applied), _mark(v.double_applied == 0)),
        ("unanswered", str(v.unanswered), _mark(v.unanswered == 0)),
        ("duplicate deliveries (allowed)", str(v.duplicate_deliveries), ""),
        ("restore mismatches", str(v.restore_mismatches), _mark(v.restore_mismatches == 0)),
        ("poison sent", str(v.poison_sent), ""),
        (
            "dead letters (distinct)",
            f"{v.dead_letters} (+{v.dead_letter_duplicates} repeats): {letters}",
            _mark(v.dead_letters_match),
        ),
    ]
    if wall_s is not None:
        rows.append(("wall time", f"{wall_s:.0f} s", ""))
    rows.append(("result", "PASS" if v.ok else "FAIL", ""))
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {value}{'  ' + mark if mark else ''}" for name, value, mark in rows]
    if v.problems:
        lines.append("first problems:")
        lines.extend(f"  {p}" for p in v.problems)
    return "\n".join(lines)


def _mark(passed: bool) -> str:
    return "ok" if passed else "FAIL"
