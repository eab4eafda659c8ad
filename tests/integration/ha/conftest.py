"""Fixtures for ZooKeeper-level HA tests: a real ZooKeeper per module (or per test), HA configs, recorders."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strom.common.config import Configuration
from strom.common.ha import LeaderInformation
from strom.common.ha.zookeeper import ZooKeeperHaServices
from tests.harness.zookeeper import ZooKeeperServer, zookeeper_available

SESSION_TIMEOUT = "2 s"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests (only: the hook sees the whole session) as needing ZooKeeper."""
    here = Path(__file__).parent
    reason = zookeeper_available()
    for item in items:
        if here not in Path(item.path).parents:
            continue
        item.add_marker(pytest.mark.zookeeper)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``predicate`` until truthy; return the seconds it took. No fixed sleeps in tests."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - start


class RecordingContender:
    """A JobManager stand-in: records grants and revokes; with ``auto_confirm`` it publishes its address."""

    def __init__(self, name: str, ha: ZooKeeperHaServices | None = None, auto_confirm: bool = False) -> None:
        self.name = name
        self.ha = ha
        self.auto_confirm = auto_confirm
        self.lock = threading.Lock()
        self.session: str | None = None
        self.grants: list[tuple[float, str]] = []
        self.revokes: list[float] = []

    def grant_leadership(self, session_id: str) -> None:
        with self.lock:
            self.session = session_id
            self.grants.append((time.monotonic(), session_id))
        if self.auto_confirm and self.ha is not None:
            self.ha.leader_election().confirm_leadership(session_id, f"{self.name}:6123", f"{self.name}:8081")

    def revoke_leadership(self) -> None:
        with self.lock:
            self.session = None
            self.revokes.append(time.monotonic())

    @property
    def is_leader(self) -> bool:
        return self.session is not None


class RecordingListener:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[LeaderInformation | None] = []

    def notify_leader_address(self, leader: LeaderInformation | None) -> None:
        with self.lock:
            self.seen.append(leader)

    @property
    def last(self) -> LeaderInformation | None:
        with self.lock:
            return self.seen[-1] if self.seen else None

    def snapshot(self) -> list[LeaderInformation | None]:
        with self.lock:
            return list(self.seen)


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    """One standalone ZooKeeper for a module's tests (they use distinct cluster ids)."""
    server = ZooKeeperServer(tmp_path_factory.mktemp("zk"))
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)
        assert not server.is_running()


@pytest.fixture
def own_zk_server(tmp_path: Path) -> Iterator[ZooKeeperServer]:
    """A ZooKeeper of this test alone (for tests that stop or restart it)."""
    server = ZooKeeperServer(tmp_path / "zk")
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def make_config(quorum: str, storage: Path, cluster_id: str | None = None, **extra: str) -> Configuration:
    return Configuration({
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": quorum,
        "high-availability.cluster-id": cluster_id or uuid.uuid4().hex[:12],
        "high-availability.storageDir": storage.as_uri(),
        "high-availability.zookeeper.client.session-timeout": SESSION_TIMEOUT,
        "high-availability.zookeeper.client.connection-timeout": "5 s",
        **extra,
    })


@pytest.fixture
def open_services() -> Iterator[Callable[[Configuration], ZooKeeperHaServices]]:
    """Factory for ZooKeeperHaServices that are closed after the test, whatever happens."""
    opened: list[ZooKeeperHaServices] = []

    def factory(config: Configuration) -> ZooKeeperHaServices:
        services = ZooKeeperHaServices(config)
        opened.append(services)
        return services

    yield factory
    for services in opened:
        services.close()
