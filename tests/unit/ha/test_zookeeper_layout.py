"""Znode paths and JSON codecs of the ZooKeeper HA services (pure; no server)."""

from __future__ import annotations

import pytest

from strom.common.config import Configuration
from strom.common.errors import ConfigurationError
from strom.common.ha import JobResultEntry, LeaderInformation
from strom.common.ha.zookeeper.layout import (
    MAX_ERROR_CHARS,
    StatePointer,
    ZNodeLayout,
    decode_job_result,
    decode_leader_information,
    encode_job_result,
    encode_leader_information,
    latch_sequence,
)
from strom.common.ids import LeaderSessionId

pytestmark = pytest.mark.timeout(10)


def test_layout_from_defaults_and_custom_root():
    layout = ZNodeLayout.from_config(Configuration())
    assert layout.base == "/strom/default"
    assert layout.latch_dir == "/strom/default/leader/latch"
    assert layout.connection_info == "/strom/default/leader/jobmanager/connection_info"
    assert layout.job_graph("abc") == "/strom/default/jobgraphs/abc"
    assert layout.job_result("abc") == "/strom/default/job-results/abc"

    custom = ZNodeLayout.from_config(Configuration({"high-availability.zookeeper.path.root": "flink/",
                                                    "high-availability.cluster-id": "prod-1"}))
    assert custom.base == "/flink/prod-1"


@pytest.mark.parametrize("bad", ["", "a/b", ".."])
def test_cluster_id_must_be_one_name(bad):
    with pytest.raises(ConfigurationError, match="cluster-id"):
        ZNodeLayout.from_config(Configuration({"high-availability.cluster-id": bad}))


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".."])
def test_job_ids_cannot_escape_their_folder(bad):
    with pytest.raises(ValueError):
        ZNodeLayout("/strom/c").job_graph(bad)


def test_latch_order_is_numeric():
    names = ["latch-0000000010", "latch-0000000002", "junk", "latch-0000000009"]
    assert sorted(names, key=latch_sequence) == ["latch-0000000002", "latch-0000000009", "latch-0000000010", "junk"]


def test_leader_information_round_trip_and_garbage():
    info = LeaderInformation(LeaderSessionId("ab" * 16), "10.0.0.1:6123", "10.0.0.1:8081")
    assert decode_leader_information(encode_leader_information(info, owner="host:1")) == info
    assert decode_leader_information(b"") is None
    assert decode_leader_information(None) is None
    assert decode_leader_information(b"\xac\xed java serialization") is None
    assert decode_leader_information(b'{"rpc_address": "x"}') is None


def test_pointer_and_job_result_round_trip():
    p = StatePointer("s3://bucket/ha/c/jobgraphs/j-1.jobgraph", 42, "0" * 64)
    assert StatePointer.decode(p.encode()) == p
    entry = JobResultEntry("j1", "FAILED", "wc", 1700000000000, "ValueError: boom")
    assert decode_job_result(encode_job_result(entry)) == entry


def test_huge_error_text_is_cut_below_the_znode_limit():
    entry = JobResultEntry("j1", "FAILED", error="x" * (MAX_ERROR_CHARS * 20))
    data = encode_job_result(entry)
    assert len(data) < 100 * 1024
    assert decode_job_result(data).error.endswith("chars cut)")
