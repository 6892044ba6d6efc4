"""docs/metrics.md lists exactly the metrics a worker registers: names, types and labels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase

from streamrec.stream.tools import metrics_reference as ref

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "metrics.md"
STALE = (
    "docs/metrics.md is out of date with the worker's metrics: run `make metrics-doc` (a new "
    "metric also needs its place in AREAS, stream/tools/metrics_reference.py)"
)
# The classes that build the worker's metrics, by module (metrics_reference builds both).
METRIC_MODULES = {
    "stream/serving/metrics.py",
    "stream/distribution/swap.py",
    "stream/trainer/metrics.py",
}
SUFFIX = {"counter": "_total", "gauge": "", "histogram": ""}

Row = tuple[str, str, tuple[str, ...]]  # exposed name, type, labels


def documented(page: str) -> set[Row]:
    """(name, type, labels) of every table row in the page's generated block."""
    start, end = page.index(ref.BEGIN), page.index(ref.END)
    rows = set()
    for line in page[start:end].splitlines():
        if not line.startswith("| `"):
            continue
        name, kind, labels = (c.strip() for c in line.strip("|").split(" | ")[:3])
        names = tuple(n.strip(" `") for n in labels.split(",")) if labels != "—" else ()
        rows.add((name.strip("`"), kind, names))
    return rows


def registered(registry: CollectorRegistry, objects: list[MetricWrapperBase]) -> set[Row]:
    """(name, type, labels) of every family in the registry, as Prometheus exposes it."""
    labels = {f.name: ref.label_names(m) for m in objects for f in m.describe()}
    return {(f.name + SUFFIX[f.type], f.type, labels[f.name]) for f in registry.collect()}


def test_the_page_lists_exactly_the_registry() -> None:
    registry, objects = ref.process_metrics()
    want, have = registered(registry, objects), documented(DOC.read_text())
    missing = sorted(want - have)
    extra = sorted(have - want)
    assert not missing and not extra, f"{STALE}\nnot on the page: {missing}\nnot in code: {extra}"


def test_the_generated_block_is_current() -> None:
    page = DOC.read_text()
    block = ref.render(ref.reference(*ref.process_metrics()))
    assert ref.replace_block(page, block) == page, STALE


def test_a_new_metric_fails_until_it_has_an_area() -> None:
    registry, objects = ref.process_metrics()
    extra = Counter("streamrec_new_thing", "Not on the page yet.", ["kind"], registry=registry)
    assert registered(registry, [*objects, extra]) != documented(DOC.read_text())
    with pytest.raises(ref.MetricsReferenceError, match="streamrec_new_thing: in no area"):
        ref.reference(registry, [*objects, extra])


def test_check_exits_1_on_a_stale_page_and_0_once_written(tmp_path: Path) -> None:
    page = tmp_path / "metrics.md"
    page.write_text(
        f"# intro\n\n{ref.BEGIN}\n| `streamrec_gone_total` | counter |\n{ref.END}\nend\n"
    )
    assert ref.main(["--out", str(page), "--check"]) == 1
    assert ref.main(["--out", str(page)]) == 0
    assert ref.main(["--out", str(page), "--check"]) == 0
    text = page.read_text()
    assert text.startswith("# intro\n\n") and text.endswith("\nend\n")
    assert "streamrec_gone_total" not in text


def test_label_names_reads_the_clients_private_member() -> None:
    """The one private prometheus_client name the reference relies on."""
    gauge = Gauge("g", "a gauge", ["a", "b"], registry=CollectorRegistry())
    assert ref.label_names(gauge) == ("a", "b")


def test_metrics_are_only_built_in_the_referenced_modules() -> None:
    """A metric built elsewhere would reach /metrics without worker_metrics() seeing it."""
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
    found = set()
    for path in sorted((REPO / "stream").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        local = {
            a.asname or a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_")
            for a in node.names
            if a.name in kinds
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            direct = isinstance(f, ast.Name) and f.id in local
            dotted = (
                isinstance(f, ast.Attribute)
                and f.attr in kinds
                and isinstance(f.value, ast.Name)
                and f.value.id == "prometheus_client"
            )
            if direct or dotted:
                found.add(str(path.relative_to(REPO)))
    assert found <= METRIC_MODULES, f"metrics built outside {sorted(METRIC_MODULES)}: {found}"
