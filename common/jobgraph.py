"""The JobGraph: what a client submits. Vertices are chains of operators
(opaque cloudpickled blobs to the JobManager), edges carry a partitioner name.

The JobManager never unpickles user code: it schedules on structure only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from strom.common.errors import JobGraphError
from strom.common.rpc import common_pb2


class PartitionerKind(StrEnum):
    FORWARD = "forward"
    HASH = "hash"
    REBALANCE = "rebalance"
    BROADCAST = "broadcast"

    @property
    def is_pointwise(self) -> bool:
        """Forward edges connect subtask i to subtask i only."""
        return self is PartitionerKind.FORWARD


@dataclass
class JobVertex:
    id: str
    name: str
    parallelism: int
    max_parallelism: int
    operators: bytes
    is_source: bool = False
    slot_sharing_group: str = "default"


@dataclass
class JobEdge:
    source_id: str
    target_id: str
    partitioner: PartitionerKind
    input_index: int = 0


@dataclass
class JobGraph:
    job_id: str
    name: str
    vertices: list[JobVertex] = field(default_factory=list)
    edges: list[JobEdge] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)

    def vertex(self, vertex_id: str) -> JobVertex:
        for v in self.vertices:
            if v.id == vertex_id:
                return v
        raise KeyError(vertex_id)

    def inputs_of(self, vertex_id: str) -> list[tuple[int, JobEdge]]:
        """(edge index, edge) of every edge into vertex_id, in edge order."""
        return [(i, e) for i, e in enumerate(self.edges) if e.target_id == vertex_id]

    def outputs_of(self, vertex_id: str) -> list[tuple[int, JobEdge]]:
        """(edge index, edge) of every edge out of vertex_id, in edge order."""
        return [(i, e) for i, e in enumerate(self.edges) if e.source_id == vertex_id]

    def topological_order(self) -> list[JobVertex]:
        indeg = {v.id: 0 for v in self.vertices}
        for e in self.edges:
            indeg[e.target_id] += 1
        ready = [v.id for v in self.vertices if indeg[v.id] == 0]
        order: list[str] = []
        while ready:
            vid = ready.pop(0)
            order.append(vid)
            for e in self.edges:
                if e.source_id == vid:
                    indeg[e.target_id] -= 1
                    if indeg[e.target_id] == 0:
                        ready.append(e.target_id)
        if len(order) != len(self.vertices):
            raise JobGraphError(f"job '{self.name}' has a cycle")
        return [self.vertex(v) for v in order]

    def validate(self) -> None:
        """Structural checks the JobManager repeats on submission (never trust the wire)."""
        if not self.vertices:
            raise JobGraphError(f"job '{self.name}' has no operators: add a source and a sink before execute()")
        ids = {v.id for v in self.vertices}
        if len(ids) != len(self.vertices):
            raise JobGraphError("duplicate vertex ids in job graph")
        for v in self.vertices:
            if v.parallelism < 1:
                raise JobGraphError(f"vertex '{v.name}': parallelism must be >= 1, got {v.parallelism}")
            if v.max_parallelism < v.parallelism:
                raise JobGraphError(f"vertex '{v.name}': parallelism {v.parallelism} exceeds max parallelism "
                                    f"{v.max_parallelism}")
        for e in self.edges:
            if e.source_id not in ids or e.target_id not in ids:
                raise JobGraphError(f"edge {e.source_id}->{e.target_id} references an unknown vertex")
            if e.partitioner is PartitionerKind.FORWARD:
                src, dst = self.vertex(e.source_id), self.vertex(e.target_id)
                if src.parallelism != dst.parallelism:
                    raise JobGraphError(f"forward edge '{src.name}' -> '{dst.name}' needs equal parallelism "
                                        f"({src.parallelism} != {dst.parallelism}); use rebalance()")
        self.topological_order()

    # ---- wire codec ---------------------------------------------------------

    def to_proto(self) -> common_pb2.JobGraph:
        return common_pb2.JobGraph(
            job_id=self.job_id, name=self.name, config=self.config,
            vertices=[common_pb2.JobVertex(id=v.id, name=v.name, parallelism=v.parallelism,
                                           max_parallelism=v.max_parallelism, operators=v.operators,
                                           is_source=v.is_source, slot_sharing_group=v.slot_sharing_group)
                      for v in self.vertices],
            edges=[common_pb2.JobEdge(source_id=e.source_id, target_id=e.target_id,
                                      partitioner=e.partitioner.value, input_index=e.input_index)
                   for e in self.edges])

    @classmethod
    def from_proto(cls, msg: common_pb2.JobGraph) -> JobGraph:
        try:
            edges = [JobEdge(e.source_id, e.target_id, PartitionerKind(e.partitioner), e.input_index)
                     for e in msg.edges]
        except ValueError as exc:
            raise JobGraphError(f"unknown partitioner in job graph: {exc}") from None
        return cls(
            job_id=msg.job_id, name=msg.name, config=dict(msg.config),
            vertices=[JobVertex(v.id, v.name, v.parallelism, v.max_parallelism, v.operators, v.is_source,
                                v.slot_sharing_group or "default") for v in msg.vertices],
            edges=edges)

    def to_bytes(self) -> bytes:
        return self.to_proto().SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> JobGraph:
        msg = common_pb2.JobGraph()
        msg.ParseFromString(data)
        return cls.from_proto(msg)
