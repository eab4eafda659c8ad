"""Job graphs and job results in ZooKeeper (Flink's ZooKeeperStateHandleStore pattern).

- ``jobgraphs/<job-id>`` holds a small JSON pointer (URI, size, sha256) to the
  serialized job graph in ``high-availability.storageDir``. ``put`` writes the
  file first and then the pointer; ``remove`` deletes the pointer first and then
  the file; a crash in between leaves an orphaned file, never a dangling pointer.
- ``job-results/<job-id>`` holds the whole ``JobResultEntry`` as JSON (a few
  hundred bytes; error text is cut at 64 KiB). Flink keeps its JobResultStore
  in the file system; Strom keeps it in ZooKeeper, next to the job graphs, so a
  new leader reads "submitted" and "finished" from one linearizable store and a
  result written before a graph is removed is always seen before the removal.

Fencing: writes (put/remove) carry a ZooKeeper ``check`` of the writer's
leader latch node in the same transaction once this process contends for
leadership: a JobManager that lost leadership (its latch node is gone) cannot
change what the new leader recovers; it gets ``FencingTokenError``. Processes
that never contend (tools, tests) write unfenced. Reads are never fenced.

All methods block the calling thread for one or two ZooKeeper round trips
(plus the storageDir I/O for job graphs), at most the connection timeout per
call; call them from an executor, not from an event loop's thread.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from functools import partial, wraps
from typing import Any, ParamSpec, TypeVar

from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
)

from strom.common.errors import ClusterUnreachableError, FencingTokenError, StromError
from strom.common.ha.filesystem import HaStorageDir, sha256_hex
from strom.common.ha.services import JobGraphStore, JobResultEntry, JobResultStore
from strom.common.ha.zookeeper.connection import ZooKeeperConnection, transaction_errors
from strom.common.ha.zookeeper.layout import (
    StatePointer,
    ZNodeLayout,
    decode_job_result,
    encode_job_result,
)

log = logging.getLogger(__name__)

# Returns the latch node writes must be fenced with, None for unfenced writes;
# raises FencingTokenError when this process contends but does not lead.
Fence = Callable[[], str | None]


def no_fence() -> str | None:
    return None


P = ParamSpec("P")
R = TypeVar("R")


def _zookeeper_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Unexpected ZooKeeper errors leave a store as StromError naming the operation (never raw kazoo errors)."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except KazooException as e:
            raise StromError(f"ZooKeeper HA store: {method.__qualname__} failed: {type(e).__name__}: {e}") from e

    return wrapper


def _commit(conn: ZooKeeperConnection, what: str, fence_node: str | None,
            ops: Callable[[Any], None]) -> list[object]:
    """One transaction: optional leadership check, then ``ops(tx)``. Raises the first real error."""
    tx = conn.client.transaction()
    if fence_node is not None:
        tx.check(fence_node, -1)
    ops(tx)
    results = conn.call(what, tx.commit_async)
    if fence_node is not None and isinstance(results[0], NoNodeError):
        raise FencingTokenError(f"cannot {what}: this JobManager lost leadership (latch node {fence_node} is gone)")
    errors = transaction_errors(results)
    if errors:
        raise errors[0]
    return list(results)


def _create(conn: ZooKeeperConnection, what: str, fence_node: str | None, path: str, data: bytes) -> None:
    """Create a persistent znode (fenced); re-creates a missing parent folder once (e.g. after a cleanup)."""
    try:
        _commit(conn, what, fence_node, partial(_create_op, path=path, data=data))
    except NoNodeError:
        conn.call(f"create {posixpath.dirname(path)}", conn.client.ensure_path_async, posixpath.dirname(path))
        _commit(conn, what, fence_node, partial(_create_op, path=path, data=data))


def _create_op(tx: Any, path: str, data: bytes) -> None:
    tx.create(path, data)


def _set_data(tx: Any, path: str, data: bytes, version: int) -> None:
    tx.set_data(path, data, version)


def _delete(tx: Any, path: str, version: int) -> None:
    tx.delete(path, version)


class ZooKeeperJobGraphStore(JobGraphStore):
    """Pointers in ``jobgraphs/<job-id>``, payloads in ``<storageDir>/<cluster-id>/jobgraphs/``."""

    FOLDER = "jobgraphs"

    def __init__(self, conn: ZooKeeperConnection, layout: ZNodeLayout, storage: HaStorageDir,
                 fence: Fence = no_fence) -> None:
        self._conn = conn
        self._layout = layout
        self._storage = storage
        self._fence = fence

    @_zookeeper_errors
    def put(self, job_id: str, job_graph: bytes) -> None:
        fence_node = self._fence()
        path = self._layout.job_graph(job_id)
        uri = self._storage.write(self.FOLDER, job_id, job_graph, suffix=".jobgraph")
        pointer = StatePointer(uri, len(job_graph), sha256_hex(job_graph)).encode()
        zk, call = self._conn.client, self._conn.call
        replaced: str | None = None
        try:
            for _ in range(5):
                try:
                    data, stat = call(f"read job graph pointer of {job_id}", zk.get_async, path)
                except NoNodeError:
                    try:
                        _create(self._conn, f"store job graph {job_id}", fence_node, path, pointer)
                        break
                    except NodeExistsError:
                        continue
                try:
                    _commit(self._conn, f"store job graph {job_id}", fence_node,
                            partial(_set_data, path=path, data=pointer, version=stat.version))
                    replaced = _pointer_path(data)
                    break
                except (BadVersionError, NoNodeError):
                    continue
            else:
                raise StromError(f"could not store job graph {job_id}: {path} kept changing under us")
        except ClusterUnreachableError:
            raise   # outcome unknown (the pointer may have been written): keep the file, an orphan at worst
        except BaseException:
            self._discard(uri)   # the pointer was not written: the new file is garbage
            raise
        if replaced and replaced != uri:
            self._discard(replaced)
        log.info("Stored job graph %s (%d bytes) at %s -> %s", job_id, len(job_graph), path, uri)

    @_zookeeper_errors
    def get(self, job_id: str) -> bytes | None:
        path = self._layout.job_graph(job_id)
        try:
            data, _ = self._conn.call(f"read job graph pointer of {job_id}", self._conn.client.get_async, path)
        except NoNodeError:
            return None
        try:
            pointer = StatePointer.decode(data)
        except (ValueError, KeyError, TypeError) as e:
            raise StromError(f"job graph pointer {path} is unreadable ({e}): {data[:200]!r}") from e
        payload = self._storage.read(pointer.path)
        if len(payload) != pointer.size or sha256_hex(payload) != pointer.sha256:
            raise StromError(f"job graph {job_id} in {pointer.path} is corrupt: expected {pointer.size} bytes "
                             f"with sha256 {pointer.sha256}, found {len(payload)} bytes")
        return payload

    @_zookeeper_errors
    def remove(self, job_id: str) -> None:
        fence_node = self._fence()
        path = self._layout.job_graph(job_id)
        zk, call = self._conn.client, self._conn.call
        for _ in range(5):
            try:
                data, stat = call(f"read job graph pointer of {job_id}", zk.get_async, path)
            except NoNodeError:
                return
            try:
                _commit(self._conn, f"remove job graph {job_id}", fence_node,
                        partial(_delete, path=path, version=stat.version))
            except NoNodeError:
                return
            except BadVersionError:
                continue
            uri = _pointer_path(data)
            if uri:
                self._discard(uri)
            log.info("Removed job graph %s (%s)", job_id, uri)
            return
        raise StromError(f"could not remove job graph {job_id}: {path} kept changing under us")

    @_zookeeper_errors
    def job_ids(self) -> list[str]:
        try:
            children = self._conn.call("list job graphs", self._conn.client.get_children_async,
                                       self._layout.job_graphs)
        except NoNodeError:
            return []
        return sorted(children)

    def _discard(self, uri: str) -> None:
        try:
            self._storage.delete(uri)
        except StromError as e:
            log.warning("Orphaned job graph file %s: %s", uri, e)


def _pointer_path(data: bytes) -> str | None:
    try:
        return StatePointer.decode(data).path
    except (ValueError, KeyError, TypeError):
        return None


class ZooKeeperJobResultStore(JobResultStore):
    """``job-results/<job-id>``: one JSON ``JobResultEntry`` per globally terminal job."""

    def __init__(self, conn: ZooKeeperConnection, layout: ZNodeLayout, fence: Fence = no_fence) -> None:
        self._conn = conn
        self._layout = layout
        self._fence = fence

    @_zookeeper_errors
    def put(self, entry: JobResultEntry) -> None:
        fence_node = self._fence()
        path = self._layout.job_result(entry.job_id)
        data = encode_job_result(entry)
        try:
            _create(self._conn, f"store the result of job {entry.job_id}", fence_node, path, data)
        except NodeExistsError:   # idempotent: a retried or repeated put overwrites
            _commit(self._conn, f"store the result of job {entry.job_id}", fence_node,
                    partial(_set_data, path=path, data=data, version=-1))
        log.info("Stored result of job %s: %s", entry.job_id, entry.state)

    @_zookeeper_errors
    def get(self, job_id: str) -> JobResultEntry | None:
        path = self._layout.job_result(job_id)
        try:
            data, _ = self._conn.call(f"read the result of job {job_id}", self._conn.client.get_async, path)
        except NoNodeError:
            return None
        return _decode_result(path, data)

    @_zookeeper_errors
    def entries(self) -> list[JobResultEntry]:
        call, zk = self._conn.call, self._conn.client
        try:
            children = call("list job results", zk.get_children_async, self._layout.job_results)
        except NoNodeError:
            return []
        out = []
        for job_id in sorted(children):
            path = f"{self._layout.job_results}/{job_id}"
            try:
                data, _ = call(f"read the result of job {job_id}", zk.get_async, path)
            except NoNodeError:
                continue
            out.append(_decode_result(path, data))
        return out


def _decode_result(path: str, data: bytes) -> JobResultEntry:
    try:
        return decode_job_result(data)
    except (ValueError, KeyError, TypeError) as e:
        raise StromError(f"job result {path} is unreadable ({e}): {data[:200]!r}") from e
