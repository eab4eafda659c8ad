"""TaskDeploymentDescriptors: what one subtask needs to know to run. Pure.

The contract (docs/architecture.md, "Slot request and deployment"):

- subtask ``i`` of every vertex runs in slot ``i`` (slot sharing);
- inputs: for each edge into the vertex, in edge order, one InputGateDescriptor
  (the edge's input_index and partitioner) with one channel per producer
  subtask (forward edges: only producer subtask ``i``). A channel names the
  producer's ResultPartitionId (its current attempt and the edge index), the
  subpartition to read (the consumer's subtask index; 0 on forward edges) and
  the producer slot's data address;
- outputs: for each edge out of the vertex, in edge order, one
  ResultPartitionDescriptor with one subpartition per consumer subtask
  (forward edges: one).
"""

from __future__ import annotations

from collections.abc import Sequence

from strom.common.ids import ResultPartitionId
from strom.common.jobgraph import JobEdge, PartitionerKind
from strom.common.rpc import common_pb2
from strom.jobmanager.jobmaster.execution_graph import ExecutionGraph, ExecutionVertex
from strom.jobmanager.resourcemanager.resource_manager import SlotAssignment


def partition_id(graph: ExecutionGraph, producer_vertex_id: str, producer_subtask: int, edge_index: int) -> str:
    producer = graph.job_vertex(producer_vertex_id).subtasks[producer_subtask].current_execution
    return str(ResultPartitionId(producer.attempt_id, edge_index))


def _input_gate(graph: ExecutionGraph, consumer: ExecutionVertex, edge_index: int, edge: JobEdge,
                slots: Sequence[SlotAssignment]) -> common_pb2.InputGateDescriptor:
    producer = graph.job_vertex(edge.source_id)
    if edge.partitioner.is_pointwise:
        sources = [(consumer.subtask_index, 0)]
    else:
        sources = [(j, consumer.subtask_index) for j in range(producer.parallelism)]
    channels = [common_pb2.ChannelDescriptor(partition_id=partition_id(graph, edge.source_id, j, edge_index),
                                             subpartition=subpartition, data_address=slots[j].data_address)
                for j, subpartition in sources]
    return common_pb2.InputGateDescriptor(input_index=edge.input_index, partitioner=edge.partitioner.value,
                                          channels=channels)


def _output(graph: ExecutionGraph, producer: ExecutionVertex, edge_index: int,
            edge: JobEdge) -> common_pb2.ResultPartitionDescriptor:
    consumers = graph.job_vertex(edge.target_id).parallelism
    return common_pb2.ResultPartitionDescriptor(
        partition_id=str(ResultPartitionId(producer.current_execution.attempt_id, edge_index)),
        num_subpartitions=1 if edge.partitioner is PartitionerKind.FORWARD else consumers,
        partitioner=edge.partitioner.value)


def build_tdd(graph: ExecutionGraph, vertex: ExecutionVertex,
              slots: Sequence[SlotAssignment]) -> common_pb2.TaskDeploymentDescriptor:
    """The descriptor of ``vertex``'s current execution; ``slots[i]`` is slot ``i`` of the job."""
    job_graph = graph.job_graph
    job_vertex = vertex.job_vertex.job_vertex
    execution = vertex.current_execution
    return common_pb2.TaskDeploymentDescriptor(
        job_id=graph.job_id, job_name=graph.name, vertex_id=job_vertex.id, vertex_name=job_vertex.name,
        subtask_index=vertex.subtask_index, parallelism=job_vertex.parallelism, attempt=execution.attempt,
        max_parallelism=job_vertex.max_parallelism, allocation_id=slots[vertex.subtask_index].allocation_id,
        operators=job_vertex.operators,
        inputs=[_input_gate(graph, vertex, i, e, slots) for i, e in job_graph.inputs_of(job_vertex.id)],
        outputs=[_output(graph, vertex, i, e) for i, e in job_graph.outputs_of(job_vertex.id)],
        config=job_graph.config)


def build_all(graph: ExecutionGraph,
              slots: Sequence[SlotAssignment]) -> list[tuple[ExecutionVertex, common_pb2.TaskDeploymentDescriptor]]:
    """Every subtask's descriptor, vertices in topological order."""
    if len(slots) < graph.num_slots_needed:
        raise ValueError(f"job {graph.job_id} needs {graph.num_slots_needed} slots, got {len(slots)}")
    return [(subtask, build_tdd(graph, subtask, slots)) for vertex in graph.vertices for subtask in vertex.subtasks]
