"""HaStorageDir: payload files under <storageDir>/<cluster-id>/ via pyarrow.fs (local directory)."""

from __future__ import annotations

import pytest

from strom.common.config import Configuration
from strom.common.errors import ConfigurationError, StromError
from strom.common.ha.filesystem import HaStorageDir, join_uri

pytestmark = pytest.mark.timeout(10)


def test_write_read_delete_with_plain_path_and_file_uri(tmp_path):
    for base in (str(tmp_path / "plain"), (tmp_path / "uri").as_uri()):
        store = HaStorageDir(base, "c1")
        uri = store.write("jobgraphs", "job1", b"payload", suffix=".jobgraph")
        assert uri.startswith(join_uri(base, "c1", "jobgraphs", "job1-")) and uri.endswith(".jobgraph")
        assert store.read(uri) == b"payload"
        assert store.list_files("jobgraphs") == [uri]
        store.delete(uri)
        store.delete(uri)   # missing is fine
        assert store.list_files("jobgraphs") == []
        with pytest.raises(StromError, match="missing"):
            store.read(uri)


def test_every_write_is_a_new_file(tmp_path):
    store = HaStorageDir(str(tmp_path), "c")
    assert store.write("jobgraphs", "j", b"1") != store.write("jobgraphs", "j", b"1")


def test_reads_files_written_under_another_storage_dir(tmp_path):
    old = HaStorageDir(str(tmp_path / "old"), "c")
    uri = old.write("jobgraphs", "j", b"x")
    assert HaStorageDir(str(tmp_path / "new"), "c").read(uri) == b"x"


def test_delete_all_removes_the_cluster_folder_only(tmp_path):
    a, b = HaStorageDir(str(tmp_path), "a"), HaStorageDir(str(tmp_path), "b")
    a.write("jobgraphs", "j", b"x")
    keep = b.write("jobgraphs", "j", b"y")
    a.delete_all()
    assert not (tmp_path / "a").exists()
    assert b.read(keep) == b"y"


def test_join_uri_keeps_query_strings():
    assert join_uri("s3://bkt/ha?endpoint_override=127.0.0.1:9000", "c", "f") == \
        "s3://bkt/ha/c/f?endpoint_override=127.0.0.1:9000"
    assert join_uri("/data/ha/", "c") == "/data/ha/c"


def test_storage_dir_must_be_configured():
    with pytest.raises(ConfigurationError, match="high-availability.storageDir"):
        HaStorageDir.from_config(Configuration())
