"""A real Prometheus server for the scale scenario.

It scrapes the fleet's workers and answers queries over its HTTP API, as in a deployment. The
binary is Debian's ``prometheus`` package (``deploy/prometheus/install-promtool.sh`` installs
it). Targets come from a file (``file_sd_configs``) rewritten whenever a worker starts or
stops; Prometheus rereads it by itself.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamrec.stream.tools.ports import free_port

log = logging.getLogger(__name__)

JOB = "streamrec"


class PrometheusError(RuntimeError):
    """Raised when Prometheus is missing, does not start, or a query fails."""


@dataclass(frozen=True)
class Sample:
    """One series of a query's answer: its labels and value (or values, for a range)."""

    labels: dict[str, str]
    values: list[tuple[float, float]]  # (unix time, value); one pair for an instant query

    @property
    def value(self) -> float:
        """The (last) value."""
        return self.values[-1][1]


class PrometheusServer:
    """One Prometheus process with its own data directory, scraping ``JOB`` from a file."""

    def __init__(self, work: Path, scrape_interval_s: float = 1.0) -> None:
        self.work = work
        self.scrape_interval_s = scrape_interval_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def targets_file(self) -> Path:
        """The file_sd file: the workers' ``host:port``."""
        return self.work / "targets.json"

    def set_targets(self, ports: Iterable[int]) -> None:
        """Scrape exactly these workers from now on (written atomically)."""
        body = [{"targets": [f"127.0.0.1:{p}" for p in sorted(ports)], "labels": {}}]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.targets_file)

    def start(self, timeout_s: float = 60.0) -> None:
        """Write the config, start the server and wait until it answers ``/-/ready``."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError(
                "prometheus is not installed: run deploy/prometheus/install-promtool.sh "
                "(Debian's prometheus package) or install it"
            )
        self.work.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self.set_targets([])
        interval = f"{int(self.scrape_interval_s * 1000)}ms"
        config = self.work / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": interval, "evaluation_interval": interval},
                    "scrape_configs": [
                        {
                            "job_name": JOB,
                            "scrape_timeout": interval,
                            "file_sd_configs": [
                                {"files": [str(self.targets_file)], "refresh_interval": "1s"}
                            ],
                        }
                    ],
                }
            )
        )
        self.port = free_port()
        with (self.work / "prometheus.log").open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1d",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited at start; see {self.work}/prometheus.log")
            try:
                with urllib.request.urlopen(self._url("/-/ready"), timeout=2) as resp:
                    if resp.status == 200:
                        log.info("prometheus ready on 127.0.0.1:%d", self.port)
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise PrometheusError(f"prometheus not ready after {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def _url(self, path: str, **params: str) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"http://127.0.0.1:{self.port}{path}{query}"

    def _api(self, path: str, **params: str) -> Any:
        try:
            with urllib.request.urlopen(self._url(path, **params), timeout=10) as resp:
                answer = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"query {params.get('query')!r} failed: {exc}") from exc
        if answer.get("status") != "success":
            raise PrometheusError(f"query {params.get('query')!r}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query (now, or at the Unix time ``at``)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self._api("/api/v1/query", **params)
        return [
            Sample(s["metric"], [(float(s["value"][0]), float(s["value"][1]))])
            for s in data["result"]
        ]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Sample]:
        """A range query from ``start`` to ``end`` (Unix times) every ``step_s``."""
        data = self._api(
            "/api/v1/query_range",
            query=expr,
            start=f"{start:.3f}",
            end=f"{end:.3f}",
            step=f"{step_s}",
        )
        return [
            Sample(s["metric"], [(float(t), float(v)) for t, v in s["values"]])
            for s in data["result"]
        ]
