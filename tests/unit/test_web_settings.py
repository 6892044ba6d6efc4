"""Unit tier: the URL a worker advertises to its replicas, and the user endpoint's bearer token."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pydantic import ValidationError

from streamrec.stream.config.settings import Settings
from streamrec.stream.worker.web import bearer_matches


def test_advertised_url_defaults_to_the_bind_address_or_this_hosts_name() -> None:
    assert Settings(web_host="10.1.2.3", web_port=7000).advertised_url == "http://10.1.2.3:7000"
    host = socket.gethostname()
    assert Settings(web_host="0.0.0.0", web_port=7000).advertised_url == f"http://{host}:7000"
    given = Settings(web_host="0.0.0.0", web_advertised_url="http://worker-2.workers:6066/")
    assert given.advertised_url == "http://worker-2.workers:6066"


@pytest.mark.parametrize(
    "url", ["worker-2:6066", "ftp://w:1", "http://0.0.0.0:6066", "http://w:6066/users"]
)
def test_unreachable_or_malformed_advertised_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="web_advertised_url"):
        Settings(web_advertised_url=url)


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"Authorization": "Bearer s3cret-token"}, True),
        ({"Authorization": "bearer  s3cret-token"}, True),
        ({"Authorization": "Bearer wrong"}, False),
        ({"Authorization": "Basic s3cret-token"}, False),
        ({}, False),
    ],
)
def test_bearer_token_is_required_exactly(headers: dict[str, str], ok: bool) -> None:
    request: Any = _Request(headers)
    assert bearer_matches(request, "s3cret-token") is ok
    assert bearer_matches(request, None)  # no token configured: open
