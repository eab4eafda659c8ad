"""EmbeddedHaServices: explicit grant/revoke, leader retrieval, shared stores (no sockets, no threads)."""

from __future__ import annotations

import pytest

from strom.common.errors import IllegalStateTransitionError
from strom.common.ha import JobResultEntry, LeaderInformation, create_ha_services
from strom.common.ha.embedded import EmbeddedHaServices

pytestmark = pytest.mark.timeout(10)


class RecordingContender:
    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[str] = []
        self.session: str | None = None

    def grant_leadership(self, session_id: str) -> None:
        self.events.append(f"grant:{session_id}")
        self.session = session_id

    def revoke_leadership(self) -> None:
        self.events.append("revoke")
        self.session = None


class RecordingListener:
    def __init__(self) -> None:
        self.seen: list[LeaderInformation | None] = []

    def notify_leader_address(self, leader: LeaderInformation | None) -> None:
        self.seen.append(leader)


@pytest.fixture
def two_jobmanagers():
    ha1 = EmbeddedHaServices()
    ha2 = ha1.sibling()
    a, b = RecordingContender("a"), RecordingContender("b")
    ha1.leader_election().start(a)
    ha2.leader_election().start(b)
    yield ha1, ha2, a, b
    ha1.close()
    ha2.close()


def test_nothing_is_granted_until_the_test_grants(two_jobmanagers):
    ha1, _, a, b = two_jobmanagers
    assert a.events == [] and b.events == []
    assert ha1.leader is None and ha1.leader_session_id is None


def test_grant_by_index_then_by_object_revokes_the_previous_leader(two_jobmanagers):
    ha1, ha2, a, b = two_jobmanagers
    s1 = ha1.grant(0)
    assert a.events == [f"grant:{s1}"] and ha1.leader is a
    assert ha1.leader_election().has_leadership(s1)
    assert not ha2.leader_election().has_leadership(s1)

    s2 = ha2.grant(b)
    assert s2 != s1
    assert a.events == [f"grant:{s1}", "revoke"]
    assert b.events == [f"grant:{s2}"]
    assert not ha1.leader_election().has_leadership(s1)
    assert ha2.leader_election().has_leadership(s2)


def test_revoke_without_leader_is_a_no_op_and_with_leader_revokes(two_jobmanagers):
    ha1, _, a, _ = two_jobmanagers
    ha1.revoke()
    assert a.events == []
    s = ha1.grant()
    ha1.revoke()
    assert a.events == [f"grant:{s}", "revoke"]
    assert not ha1.leader_election().has_leadership(s)


def test_retrieval_follows_confirmed_leaders(two_jobmanagers):
    ha1, ha2, a, b = two_jobmanagers
    tm = ha1.sibling()
    listener = RecordingListener()
    tm.leader_retriever().start(listener)
    assert listener.seen == [None]

    s1 = ha1.grant(a)
    ha1.leader_election().confirm_leadership(s1, "127.0.0.1:6123", "127.0.0.1:8081")
    ha1.leader_election().confirm_leadership(s1, "127.0.0.1:6123", "127.0.0.1:8081")   # no duplicate
    first = LeaderInformation(s1, "127.0.0.1:6123", "127.0.0.1:8081")
    assert listener.seen == [None, first]

    s2 = ha1.grant(b)
    ha1.leader_election().confirm_leadership(s1, "stale:1", "stale:2")   # revoked session: ignored
    ha2.leader_election().confirm_leadership(s2, "127.0.0.1:7123", "127.0.0.1:9081")
    second = LeaderInformation(s2, "127.0.0.1:7123", "127.0.0.1:9081")
    assert listener.seen == [None, first, None, second]
    assert ha1.leader_information == second

    late = RecordingListener()
    ha1.sibling().leader_retriever().start(late)
    assert late.seen == [second]


def test_stopping_the_leader_clears_the_address_without_revoke_call(two_jobmanagers):
    ha1, ha2, a, b = two_jobmanagers
    listener = RecordingListener()
    ha2.leader_retriever().start(listener)
    s = ha1.grant(a)
    ha1.leader_election().confirm_leadership(s, "x:1", "x:2")
    ha1.leader_election().stop()
    assert a.events == [f"grant:{s}"]
    assert listener.seen[-1] is None
    assert ha1.contenders == [b]
    with pytest.raises(ValueError):
        ha1.grant(a)


def test_auto_grant_hands_over_to_the_next_contender():
    ha1 = EmbeddedHaServices(auto_grant=True)
    ha2 = ha1.sibling()
    a, b = RecordingContender("a"), RecordingContender("b")
    ha1.leader_election().start(a)
    ha2.leader_election().start(b)
    assert a.session is not None and b.events == []
    ha1.close()
    assert b.session is not None and b.session != a.session
    assert ha2.leader_election().has_leadership(b.session)
    ha2.close()


def test_stores_are_shared_between_siblings():
    ha1 = EmbeddedHaServices()
    ha2 = ha1.sibling()
    ha1.job_graph_store().put("j1", b"graph")
    assert ha2.job_graph_store().get("j1") == b"graph"
    assert ha2.job_graph_store().job_ids() == ["j1"]
    ha2.job_result_store().put(JobResultEntry("j1", "FINISHED", "wc", 123))
    assert ha1.job_result_store().get("j1") == JobResultEntry("j1", "FINISHED", "wc", 123)
    ha1.cleanup_job("j1")
    assert ha2.job_graph_store().get("j1") is None
    assert [e.job_id for e in ha2.job_result_store().entries()] == ["j1"]


def test_errors_for_misuse():
    ha = EmbeddedHaServices()
    with pytest.raises(IllegalStateTransitionError):
        ha.grant()
    ha.leader_election().start(RecordingContender("a"))
    with pytest.raises(IllegalStateTransitionError):
        ha.leader_election().start(RecordingContender("b"))
    with pytest.raises(IndexError):
        ha.grant(3)


def test_create_ha_services_still_picks_standalone_by_default():
    from strom.common.config import Configuration

    assert type(create_ha_services(Configuration())).__name__ == "StandaloneHaServices"
