"""StreamGraph -> JobGraph: resolve parallelism and partitioners, chain, pickle.

Chaining follows Flink: an edge is chained when it is forward, the target has
exactly that one input, both sides run at the same parallelism and neither
side disabled chaining. Each maximal chain becomes one JobVertex whose
operators travel as one cloudpickled ChainSpec.
"""

from __future__ import annotations

import hashlib
import pickle

import cloudpickle

from strom.client.graph.stream_graph import StreamEdge, StreamGraph, StreamNode
from strom.common.errors import JobGraphError
from strom.common.jobgraph import JobEdge, JobGraph, JobVertex, PartitionerKind
from strom.taskmanager.runtime.chain import ChainedNode, ChainSpec, ExitSpec


def _describe(node: StreamNode) -> str:
    return f"'{node.name}' (step {node.id})"


class JobGraphBuilder:
    def __init__(self, graph: StreamGraph, job_id: str, job_name: str, default_parallelism: int,
                 max_parallelism: int, config: dict[str, str], require_uids: bool = False) -> None:
        self.graph = graph
        self.job_id = job_id
        self.job_name = job_name
        self.default_parallelism = default_parallelism
        self.max_parallelism = max_parallelism
        self.config = config
        self.require_uids = require_uids

    # ---- resolution -----------------------------------------------------------

    def _parallelism(self, node: StreamNode) -> int:
        if node.source is not None and node.source.max_parallelism is not None:
            if node.parallelism is not None and node.parallelism > node.source.max_parallelism:
                raise JobGraphError(f"source {_describe(node)} cannot run at parallelism {node.parallelism}; "
                                    f"it supports at most {node.source.max_parallelism}")
            return node.source.max_parallelism
        p = node.parallelism or self.default_parallelism
        if p < 1:
            raise JobGraphError(f"operator {_describe(node)}: parallelism must be >= 1, got {p}")
        return p

    def _partitioner(self, edge: StreamEdge, par: dict[int, int]) -> PartitionerKind:
        src, dst = self.graph.nodes[edge.source_id], self.graph.nodes[edge.target_id]
        if edge.partitioner is None:
            return PartitionerKind.FORWARD if par[src.id] == par[dst.id] else PartitionerKind.REBALANCE
        kind = PartitionerKind(edge.partitioner)
        if kind is PartitionerKind.FORWARD and par[src.id] != par[dst.id]:
            raise JobGraphError(f"forward() from {_describe(src)} (parallelism {par[src.id]}) to {_describe(dst)} "
                                f"(parallelism {par[dst.id]}) needs equal parallelism; use rebalance()")
        if kind is PartitionerKind.HASH and edge.key is None:
            raise JobGraphError(f"hash partitioning into {_describe(dst)} needs a key (use key_by)")
        return kind

    def _topological(self) -> list[StreamNode]:
        indeg = {n: 0 for n in self.graph.nodes}
        for e in self.graph.edges:
            indeg[e.target_id] += 1
        ready = sorted(n for n, d in indeg.items() if d == 0)
        order = []
        while ready:
            nid = ready.pop(0)
            order.append(self.graph.nodes[nid])
            for e in self.graph.outputs_of(nid):
                indeg[e.target_id] -= 1
                if indeg[e.target_id] == 0:
                    ready.append(e.target_id)
        return order

    # ---- build ----------------------------------------------------------------

    def build(self) -> JobGraph:
        graph = self.graph
        if not graph.nodes:
            raise JobGraphError(f"job '{self.job_name}' has no operators: add a source and a sink before execute()")
        if not any(n.is_sink for n in graph.nodes.values()):
            raise JobGraphError(f"job '{self.job_name}' has no sink: add print(), sink_to() or write_as_text() "
                                "before execute()")
        for node in graph.nodes.values():
            if node.operator is not None:
                node.operator.name = node.name   # .name("...") names the step in errors and logs
            if self.require_uids and node.stateful and not node.uid:
                raise JobGraphError(f"stateful operator {_describe(node)} has no uid; set one with .uid('...') "
                                    "(pipeline.auto-generate-uids is false)")
            if node.source is not None:
                node.source.validate()
        order = self._topological()
        par = {n.id: self._parallelism(n) for n in order}
        kinds = {id(e): self._partitioner(e, par) for e in graph.edges}

        def chainable(e: StreamEdge) -> bool:
            src, dst = graph.nodes[e.source_id], graph.nodes[e.target_id]
            return (kinds[id(e)] is PartitionerKind.FORWARD and len(graph.inputs_of(dst.id)) == 1
                    and par[src.id] == par[dst.id] and src.chaining and dst.chaining and e.input_index == 0)

        vertex_of: dict[int, int] = {}          # stream node -> vertex index
        node_index: dict[int, int] = {}         # stream node -> index within its chain
        chains: list[list[StreamNode]] = []
        specs: list[ChainSpec] = []
        for node in order:
            ins = graph.inputs_of(node.id)
            if len(ins) == 1 and chainable(ins[0]):
                v = vertex_of[ins[0].source_id]
                vertex_of[node.id] = v
                node_index[node.id] = len(specs[v].nodes)
                specs[v].nodes.append(ChainedNode(node.operator, uid=node.uid))
                upstream = specs[v].nodes[node_index[ins[0].source_id]]
                tag = ins[0].side_output
                successors = upstream.successors if tag is None else upstream.side_successors.setdefault(tag, [])
                successors.append((node_index[node.id], 0))
                chains[v].append(node)
            else:
                vertex_of[node.id] = len(chains)
                node_index[node.id] = 0
                chains.append([node])
                specs.append(ChainSpec(nodes=[ChainedNode(node.operator, uid=node.uid)], exits=[],
                                       source=node.source))

        vertex_ids = [hashlib.sha1(f"{self.job_name}/{i}/{[n.uid or n.name for n in c]}".encode()).hexdigest()[:32]
                      for i, c in enumerate(chains)]
        job_edges: list[JobEdge] = []
        for e in sorted(graph.edges, key=lambda e: (order.index(graph.nodes[e.source_id]), e.target_id)):
            if chainable(e) and vertex_of[e.source_id] == vertex_of[e.target_id]:
                continue
            sv, tv = vertex_of[e.source_id], vertex_of[e.target_id]
            spec = specs[sv]
            upstream = spec.nodes[node_index[e.source_id]]
            exits = upstream.exits if e.side_output is None else upstream.side_exits.setdefault(e.side_output, [])
            exits.append(len(spec.exits))
            spec.exits.append(ExitSpec(partitioner=kinds[id(e)].value, key=e.key))
            job_edges.append(JobEdge(vertex_ids[sv], vertex_ids[tv], kinds[id(e)], e.input_index))

        vertices = []
        for i, (chain, spec) in enumerate(zip(chains, specs, strict=True)):
            name = " -> ".join(("Source: " + n.name) if n.is_source else n.name for n in chain)
            try:
                blob = cloudpickle.dumps(spec)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                bad = self._find_unpicklable(chain)
                raise JobGraphError(f"operator {bad}: cannot serialize its function to ship it to the cluster: "
                                    f"{exc}") from None
            head = chain[0]
            vertices.append(JobVertex(
                id=vertex_ids[i], name=name, parallelism=par[head.id],
                max_parallelism=head.max_parallelism or self.max_parallelism, operators=blob,
                is_source=head.is_source))
        jg = JobGraph(job_id=self.job_id, name=self.job_name, vertices=vertices, edges=job_edges,
                      config=dict(self.config))
        jg.validate()
        return jg

    @staticmethod
    def _find_unpicklable(chain: list[StreamNode]) -> str:
        for n in chain:
            try:
                cloudpickle.dumps(n.operator if n.operator is not None else n.source)
            except Exception:  # noqa: BLE001 - we are locating the culprit
                return _describe(n)
        return _describe(chain[0])
