"""TestingInProcessRunner: runs a JobGraph's tasks as threads of this process over one
NetworkEnvironment (all channels local). For tests of the task runtime without a
JobManager; the real deployment path is covered by the cluster tests."""

from __future__ import annotations

import threading

from strom.common.ids import ExecutionAttemptId, ResultPartitionId
from strom.common.jobgraph import JobGraph, PartitionerKind
from strom.common.rpc import common_pb2
from strom.taskmanager.network import NetworkEnvironment
from strom.taskmanager.runtime.task import Task


def build_tdds(jg: JobGraph, address_of_subtask) -> list[common_pb2.TaskDeploymentDescriptor]:
    tdds = []
    for v in jg.vertices:
        for i in range(v.parallelism):
            inputs = []
            for edge_index, e in jg.inputs_of(v.id):
                src = jg.vertex(e.source_id)
                producers = [i] if e.partitioner is PartitionerKind.FORWARD else range(src.parallelism)
                chans = [common_pb2.ChannelDescriptor(
                    partition_id=str(ResultPartitionId(ExecutionAttemptId(jg.job_id, src.id, p, 0), edge_index)),
                    subpartition=0 if e.partitioner is PartitionerKind.FORWARD else i,
                    data_address=address_of_subtask(p)) for p in producers]
                inputs.append(common_pb2.InputGateDescriptor(input_index=e.input_index,
                                                             partitioner=e.partitioner.value, channels=chans))
            outputs = []
            for edge_index, e in jg.outputs_of(v.id):
                dst = jg.vertex(e.target_id)
                n = 1 if e.partitioner is PartitionerKind.FORWARD else dst.parallelism
                outputs.append(common_pb2.ResultPartitionDescriptor(
                    partition_id=str(ResultPartitionId(ExecutionAttemptId(jg.job_id, v.id, i, 0), edge_index)),
                    num_subpartitions=n, partitioner=e.partitioner.value))
            tdds.append(common_pb2.TaskDeploymentDescriptor(
                job_id=jg.job_id, job_name=jg.name, vertex_id=v.id, vertex_name=v.name, subtask_index=i,
                parallelism=v.parallelism, attempt=0, max_parallelism=v.max_parallelism,
                operators=v.operators, inputs=inputs, outputs=outputs, config=jg.config))
    return tdds


def run_in_process(jg: JobGraph, timeout: float = 60.0) -> dict[str, tuple[str, str]]:
    """Run every task; returns execution id -> (final state, error)."""
    env = NetworkEnvironment("127.0.0.1", {})
    final: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()
    try:
        tasks = []
        for tdd in build_tdds(jg, lambda _p: env.address):
            def on_state(state, error, name, _id=f"{tdd.vertex_name}#{tdd.subtask_index}"):
                if state in ("FINISHED", "FAILED", "CANCELED"):
                    with lock:
                        final[_id] = (state, error)
            tasks.append(Task(tdd, env, on_state))
        threads = [threading.Thread(target=t.run, daemon=True) for t in tasks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
        for t, th in zip(tasks, threads, strict=True):
            if th.is_alive():
                t.cancel()
                th.join(5)
        return final
    finally:
        env.close()
