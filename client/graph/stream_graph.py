"""StreamGraph: one node per user operation, edges carry the requested partitioning.

Pure description: building it touches no network and runs no user code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strom.taskmanager.operators.base import Operator
from strom.taskmanager.operators.sources.base import Source


@dataclass
class StreamNode:
    id: int
    name: str
    operator: Operator | None = None
    source: Source | None = None
    parallelism: int | None = None      # None: the environment's default
    max_parallelism: int | None = None
    uid: str | None = None
    chaining: bool = True
    stateful: bool = False
    is_sink: bool = False

    @property
    def is_source(self) -> bool:
        return self.source is not None


@dataclass
class StreamEdge:
    source_id: int
    target_id: int
    partitioner: str | None = None      # None: forward when parallelism matches, else rebalance
    key: Any = None
    input_index: int = 0
    side_output: str | None = None      # the OutputTag id when the edge reads a side output


@dataclass
class StreamGraph:
    nodes: dict[int, StreamNode] = field(default_factory=dict)
    edges: list[StreamEdge] = field(default_factory=list)

    def add_node(self, name: str, **kwargs: Any) -> StreamNode:
        node = StreamNode(id=len(self.nodes) + 1, name=name, **kwargs)
        self.nodes[node.id] = node
        return node

    def add_edge(self, edge: StreamEdge) -> None:
        self.edges.append(edge)

    def inputs_of(self, node_id: int) -> list[StreamEdge]:
        return [e for e in self.edges if e.target_id == node_id]

    def outputs_of(self, node_id: int) -> list[StreamEdge]:
        return [e for e in self.edges if e.source_id == node_id]
