"""Every shared fixture, and the tiers: a test's tier is the folder it is in.

``tests/unit`` runs in seconds without a broker, ``tests/broker`` against one real Kafka broker
per session, ``tests/multiprocess`` starts and kills worker processes. Helpers that are not
fixtures live in ``tests/support``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamrec.models.nets.checkpoint import Checkpoint
from tests.support.export import small_checkpoint
from tests.support.kafka import Broker, create_topic, local_broker, unique_name
from tests.support.models import tiny_bundle_at

TIERS = ("unit", "broker", "multiprocess")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier; a test outside the tier folders is an error."""
    for item in items:
        tier = next((t for t in TIERS if t in item.path.parent.parts[-1:]), None)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid} is not in a tier folder ({', '.join(TIERS)})")
        item.add_marker(getattr(pytest.mark, tier))


# --- Kafka ---------------------------------------------------------------------------------------
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


# --- models and bundles --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny bundle (items i0..i59), exported once per test session."""
    out = tmp_path_factory.getbasetemp() / "tiny-bundle"
    if not (out / "manifest.json").exists():
        tiny_bundle_at(out)
    return out


@pytest.fixture(scope="session")
def checkpoint() -> Checkpoint:
    """The export tests' small model (item ids of the real data file)."""
    return small_checkpoint()


@pytest.fixture(scope="session")
def bundle_dir(checkpoint: Checkpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``checkpoint`` exported once per session."""
    from streamrec.export.onnx_export import export_checkpoint

    out = tmp_path_factory.mktemp("bundle") / "b"
    export_checkpoint(checkpoint, out, k=10, version="v1", parent="v0")
    return out


@pytest.fixture
def bundle_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    """A private copy of ``bundle_dir`` that a test may tamper with."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "copy"))


@pytest.fixture(scope="session")
def text_encoder_dir() -> Path:
    """The exported MiniLM encoder (exported on first use, ~30 s, then cached on disk)."""
    from streamrec.models.text.encoder_export import ensure_text_encoder

    return ensure_text_encoder()
