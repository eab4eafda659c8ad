"""Payload files of HA metadata in ``high-availability.storageDir`` (any ``pyarrow.fs`` URI).

ZooKeeper keeps small pointers; the payloads (job graphs, later checkpoint
metadata) live here, one immutable file per write, under the cluster id:

    <storageDir>/<cluster-id>/jobgraphs/<job-id>-<random>.jobgraph

A payload file is written completely and closed before a pointer to it is
published, and a pointer is removed before its file is deleted, so a reader
never follows a pointer to a half-written file; a crash in between leaves an
orphaned file at worst, never a dangling pointer.

    store = HaStorageDir("file:///var/lib/strom/ha", "prod")
    uri = store.write("jobgraphs", "3f2a...", b"...")   # 'file:///var/lib/strom/ha/prod/jobgraphs/3f2a...-1c9e.jobgraph'
    assert store.read(uri) == b"..."
    store.delete(uri)

Thread safety: pyarrow filesystems are thread-safe; this class holds no mutable state.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pyarrow.fs as pafs

from strom.common.config import HA_CLUSTER_ID, HA_STORAGE_DIR, Configuration
from strom.common.errors import ConfigurationError, StromError


def _normalize(uri: str) -> str:
    """Plain paths become absolute local paths; URIs keep their scheme, host and query (S3 options)."""
    uri = uri.strip()
    if "://" not in uri:
        return os.path.abspath(os.path.expanduser(uri))
    return uri


def join_uri(base: str, *parts: str) -> str:
    """Append path segments to a local path or a URI, keeping a URI's query string."""
    rel = "/".join(p.strip("/") for p in parts if p.strip("/"))
    if "://" not in base:
        return os.path.join(base, rel) if rel else base
    split = urlsplit(base)
    path = split.path.rstrip("/") + ("/" + rel if rel else "")
    return urlunsplit((split.scheme, split.netloc, path, split.query, split.fragment))


class HaStorageDir:
    """Reads, writes and deletes payload files under ``<storageDir>/<cluster-id>/``."""

    def __init__(self, storage_dir: str, cluster_id: str) -> None:
        if not storage_dir or not storage_dir.strip():
            raise ConfigurationError(f"config key '{HA_STORAGE_DIR.key}' must be set for ZooKeeper HA "
                                     "(a pyarrow.fs URI such as file:///var/lib/strom/ha or s3://bucket/ha)")
        self.root_uri = join_uri(_normalize(storage_dir), cluster_id)
        try:
            self._fs, self._root_path = pafs.FileSystem.from_uri(self.root_uri)
        except (ValueError, OSError) as e:
            raise ConfigurationError(f"config key '{HA_STORAGE_DIR.key}': cannot open {storage_dir!r} "
                                     f"as a pyarrow.fs URI: {e}") from e

    @classmethod
    def from_config(cls, config: Configuration) -> HaStorageDir:
        return cls(config.get(HA_STORAGE_DIR) or "", config.get_str(HA_CLUSTER_ID))

    def _resolve(self, uri: str) -> tuple[pafs.FileSystem, str]:
        if uri == self.root_uri or uri.startswith(self.root_uri.split("?", 1)[0] + "/"):
            rel = uri.split("?", 1)[0][len(self.root_uri.split("?", 1)[0]):]
            return self._fs, self._root_path + rel
        fs, path = pafs.FileSystem.from_uri(uri)   # written under another storageDir (config changed since)
        return fs, str(path)

    def write(self, folder: str, name: str, data: bytes, suffix: str = "") -> str:
        """Write ``data`` to a new, uniquely named file and return its URI."""
        file_name = f"{name}-{uuid.uuid4().hex[:12]}{suffix}"
        directory = f"{self._root_path}/{folder}"
        try:
            self._fs.create_dir(directory, recursive=True)
            with self._fs.open_output_stream(f"{directory}/{file_name}") as out:
                out.write(data)
        except OSError as e:
            raise StromError(f"could not write {len(data)} bytes to HA storage directory "
                             f"{join_uri(self.root_uri, folder)}: {e}") from e
        return join_uri(self.root_uri, folder, file_name)

    def read(self, uri: str) -> bytes:
        fs, path = self._resolve(uri)
        try:
            with fs.open_input_stream(path) as f:
                return bytes(f.read())
        except FileNotFoundError as e:
            raise StromError(f"HA payload {uri} is missing from the storage directory; it was deleted or "
                             f"'{HA_STORAGE_DIR.key}' points at a different place than when it was written") from e
        except OSError as e:
            raise StromError(f"could not read HA payload {uri}: {e}") from e

    def delete(self, uri: str) -> None:
        """Delete one payload file; a missing file is fine (deletes are retried after crashes)."""
        fs, path = self._resolve(uri)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StromError(f"could not delete HA payload {uri}: {e}") from e

    def list_files(self, folder: str) -> list[str]:
        """URIs of the payload files in one folder (for orphan cleanup and tests)."""
        selector = pafs.FileSelector(f"{self._root_path}/{folder}", allow_not_found=True)
        return sorted(join_uri(self.root_uri, folder, info.base_name)
                      for info in self._fs.get_file_info(selector) if info.type == pafs.FileType.File)

    def delete_all(self) -> None:
        """Delete ``<storageDir>/<cluster-id>`` with everything in it."""
        try:
            self._fs.delete_dir(self._root_path)
        except FileNotFoundError:
            pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
