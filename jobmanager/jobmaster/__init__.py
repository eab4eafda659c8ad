"""The JobMaster: ExecutionGraph, scheduling and deployment, restart strategy, failover."""

from strom.jobmanager.jobmaster.execution_graph import ExceptionEntry, Execution, ExecutionGraph
from strom.jobmanager.jobmaster.job_master import JobMaster, TaskExecutionState

__all__ = ["ExceptionEntry", "Execution", "ExecutionGraph", "JobMaster", "TaskExecutionState"]
