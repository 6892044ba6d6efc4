"""``bench stream``'s default bundle: the replay's items, a catalog of the size asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrec.export.bundle import load_bundle
from streamrec.stream.tools.bench import build_bundle

pytestmark = pytest.mark.unit


def test_the_bench_bundle_scores_a_catalog_of_the_size_asked_for(tmp_path: Path) -> None:
    rows = [("u1", "a", "click", 1.0), ("u1", "b", "click", 2.0), ("u2", "a", "click", 3.0)]
    bundle = load_bundle(build_bundle(rows, tmp_path / "b", catalog=3000))
    assert bundle.manifest.dims.vocab_size == 2 + 3000  # reserved rows, then the catalog
    assert bundle.vocab.ids[:2] == ["a", "b"]  # the replay's items keep the first rows
    assert bundle.manifest.blend is not None and bundle.manifest.blend["entries"] == 1  # a -> b
    plain = load_bundle(build_bundle(rows, tmp_path / "p", transitions=False))
    assert plain.manifest.dims.vocab_size == 4 and plain.manifest.blend is None
