"""What the deploy-file tests read: the files under deploy/, the names they mention, promtool."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamrec.json"

# PromQL: a name before "(" is a function, "by (...)" lists labels, strings are values.
_STRINGS = re.compile(r'"[^"]*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTORS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_NAMES = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "le", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords removed)."""
    bare = _RANGES.sub("", _SELECTORS.sub("", _GROUPING.sub("", _STRINGS.sub("", expr))))
    return {
        name
        for name in _NAMES.findall(bare)
        if name.lower() not in _PROMQL_WORDS and not re.fullmatch(r"[0-9.e+-]+", name)
    }


def alert_exprs() -> Iterator[tuple[str, str]]:
    """(alert name, expression) of every rule in deploy/prometheus/alerts.yml."""
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of the Grafana dashboard."""
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def manifests(folder: Path) -> list[dict[str, Any]]:
    """Every object of every YAML file in ``folder`` (multi-document files included)."""
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def promtool() -> str:
    """Path of promtool (Debian's prometheus package; ``make test`` installs it)."""
    found = shutil.which("promtool")
    if found is None:
        raise AssertionError(
            "promtool is not installed: `make test` installs Debian's prometheus package "
            "(deploy/prometheus/install-promtool.sh), or install it yourself"
        )
    return found
