"""Shared fixtures: one real Kafka broker per session, fresh topics per test, tier markers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.kafka_fixtures import Broker, create_topic, local_broker, unique_name

TIERS = {"unit", "broker", "multiprocess"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test declares its tier, so `make test` never silently skips one."""
    for item in items:
        if not TIERS & {m.name for m in item.iter_markers()}:
            raise pytest.UsageError(
                f"{item.nodeid} has no tier marker ({', '.join(sorted(TIERS))})"
            )


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """A real Apache Kafka broker for the whole session."""
    with local_broker() as b:
        yield b


@pytest.fixture
def new_topic(broker: Broker) -> Iterator[Callable[..., str]]:
    """Factory of uniquely named topics, deleted when the test ends."""
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 1, configs: dict[str, str] | None = None) -> str:
        name = create_topic(broker, unique_name(prefix), partitions, configs)
        made.append(name)
        return name

    yield make
    if made:
        admin = broker.admin()
        try:
            admin.delete_topics(made)
        except Exception:  # cleanup is best effort; the broker is torn down at the end anyway
            pass
        finally:
            admin.close()
