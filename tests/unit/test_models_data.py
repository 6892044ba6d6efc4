"""Loaders and cleaning on malformed rows; the synthetic generator; protocols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.models.data.actions import Action
from streamrec.models.data.cleaning import RawEvent, clean, kcore_filter
from streamrec.models.data.events import Event
from streamrec.models.data.loaders import ColumnMap, LoaderError, load_events
from streamrec.models.data.sequences import build_sequences, leave_one_out, time_split
from streamrec.models.data.synthetic import generate_events
from streamrec.models.data.writers import write_events


def test_csv_with_malformed_rows_is_cleaned_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "uid,sku,type,time\n"
        "u1,i1,view,100\n"
        "u1,i2,cart,2024-01-01T00:00:00Z\n"  # ISO timestamp
        "u1,i1,view,100\n"  # exact duplicate
        ",i3,view,101\n"  # missing user
        "u2,i3,view,not-a-time\n"  # unparsable timestamp
        "u2,i3,teleport,102\n"  # unknown action
        "u2,i4,buy,50\n"
        "u2,i5,view,40\n"  # earlier than u2's previous row: re-ordered
        "u3,i6\n"  # short row: missing fields
    )
    events, report = load_events(
        path, "csv", ColumnMap.parse("user=uid,item=sku,action=type,ts=time")
    )
    assert report.rows == 9
    assert report.duplicates == 1
    assert report.missing == 2
    assert report.unparsable_ts == 1
    assert report.unknown_action == 1 and report.unknown_action_names == {"teleport": 1}
    assert report.out_of_order == 1
    assert report.kept == len(events) == 4
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert [(e.user_id, e.item_id) for e in events if e.user_id == "u2"] == [
        ("u2", "i5"),
        ("u2", "i4"),
    ]
    assert report.examples


def test_missing_column_is_a_loader_error(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LoaderError, match="not found"):
        load_events(path, "csv")
    with pytest.raises(LoaderError):
        ColumnMap.parse("nonsense")


def test_jsonl_bad_line_and_no_action_column(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"u": "a", "i": 1, "t": 1}\n{broken\n\n{"u": "a", "i": 2, "t": 2}\n')
    events, report = load_events(path, "jsonl", ColumnMap.parse("user=u,item=i,ts=t,action="))
    assert [e.item_id for e in events] == ["1", "2"]
    assert all(e.action == Action.CLICK for e in events)
    assert report.missing == 1


def test_taobao_sequences_and_recsys15_formats(tmp_path: Path) -> None:
    taobao = tmp_path / "t.csv"
    taobao.write_text("1,10,5,pv,100\n1,11,5,buy,101\nbroken,line\n2,10,5,fav,99\n")
    events, report = load_events(taobao, "taobao")
    assert [e.action for e in events] == [Action.FAV, Action.CLICK, Action.BUY]
    assert report.missing == 1

    seq = tmp_path / "s.txt"
    seq.write_text("1 5 6 7\n2 6 5\n\n3\n")
    events, report = load_events(seq, "sequences")
    data = build_sequences(events)
    assert data.users == ["1", "2"]
    assert [data.vocab.item_id(int(i)) for i in data.items[0]] == ["5", "6", "7"]
    assert report.missing == 1  # the user with no items

    clicks = tmp_path / "clicks.dat"
    clicks.write_text(
        "1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n"
    )
    buys = tmp_path / "buys.dat"
    buys.write_text("1,2014-04-07T10:55:00.000Z,214536500,1200,1\n")
    events, _ = load_events(clicks, "recsys15", buys=buys)
    assert [e.action for e in events] == [Action.CLICK, Action.CLICK, Action.BUY]
    assert events[0].session_id == "1"


def test_kcore_repeats_until_stable() -> None:
    ev = [
        Event(u, i, Action.CLICK, float(n))
        for n, (u, i) in enumerate(
            [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "z")]
        )
    ]
    kept = kcore_filter(ev, 2)
    # z has one event -> c loses z, then c has one event -> c removed entirely.
    assert {e.user_id for e in kept} == {"a", "b"}
    _, report = clean([RawEvent(e.user_id, e.item_id, "click", e.ts) for e in ev], k_core=2)
    assert report.kcore_users == 1 and report.kcore_items == 1 and report.kcore_events == 2


def test_generator_is_deterministic_sorted_and_round_trips(tmp_path: Path) -> None:
    a = generate_events(50, 40, 2000, seed=7)
    assert a == generate_events(50, 40, 2000, seed=7)
    assert a != generate_events(50, 40, 2000, seed=8)
    assert len(a) == 2000
    assert [e.ts for e in a] == sorted(e.ts for e in a)
    kinds = {e.action for e in a}
    assert {Action.CLICK, Action.CART, Action.BUY} <= kinds
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"e.{fmt}"
        write_events(a, path)
        back, report = load_events(path, fmt)  # type: ignore[arg-type]
        assert back == a and report.kept == 2000


def test_protocols() -> None:
    data = build_sequences(generate_events(60, 40, 3000, seed=1))
    loo = leave_one_out(data)
    lengths = np.array([len(s) for s in data.items])
    assert (loo.test.pos == lengths[loo.test.user] - 1).all()
    assert (loo.valid.pos == loo.test.pos - 1).all()
    ts = time_split(data)
    for u, p in zip(ts.test.user, ts.test.pos, strict=True):
        assert data.items[u][p] not in set(data.items[u][:p].tolist())  # new items only
        assert ts.train_lengths[u] <= p
