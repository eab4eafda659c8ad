"""StreamExecutionEnvironment: where a job is described and from where it is executed.

    from strom import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1, 2, 3]).map(lambda x: x * 10).print()
    env.execute("tens")

``execute()`` builds and validates the whole JobGraph on the client (errors
name the offending step), then submits it to the current target: the cluster
given to ``strom run -m``, or an embedded local cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import Enum
from typing import Any

import pyarrow as pa

from strom.client.api.connectors import (
    CollectionSource,
    CsvFileSource,
    NumberSequenceSource,
    TextFileSource,
)
from strom.client.api.datastream import DataStream
from strom.client.execution.job_client import JobClient, JobExecutionResult
from strom.client.graph.job_graph_builder import JobGraphBuilder
from strom.client.graph.stream_graph import StreamGraph
from strom.common.config import MAX_PARALLELISM, parse_duration_ms
from strom.common.jobgraph import JobGraph
from strom.taskmanager.operators.sources.base import Source

__all__ = ["JobClient", "JobExecutionResult", "RestartStrategies", "RuntimeExecutionMode",
           "StreamExecutionEnvironment"]


class RuntimeExecutionMode(Enum):
    STREAMING = "STREAMING"
    BATCH = "BATCH"
    AUTOMATIC = "AUTOMATIC"


class RestartStrategies:
    """PyFlink's restart strategy factories; they set ``restart-strategy.*`` for the job."""

    @staticmethod
    def no_restart() -> dict[str, str]:
        return {"restart-strategy.type": "none"}

    @staticmethod
    def fixed_delay_restart(restart_attempts: int, delay_between_attempts: int) -> dict[str, str]:
        """``delay_between_attempts`` in milliseconds, as in PyFlink."""
        return {"restart-strategy.type": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": str(restart_attempts),
                "restart-strategy.fixed-delay.delay": f"{delay_between_attempts} ms"}


class ExecutionConfig:
    """PyFlink's ExecutionConfig, over the job's configuration."""

    def __init__(self, job_config: dict[str, str]) -> None:
        self._job_config = job_config

    def set_auto_watermark_interval(self, interval_millis: int) -> ExecutionConfig:
        """How often ``assign_timestamps_and_watermarks`` emits watermarks (0: only at the end)."""
        if int(interval_millis) < 0:
            raise ValueError(f"the watermark interval must not be negative, got {interval_millis}")
        self._job_config["pipeline.auto-watermark-interval"] = f"{int(interval_millis)} ms"
        return self

    def get_auto_watermark_interval(self) -> int:
        return parse_duration_ms(self._job_config.get("pipeline.auto-watermark-interval", "200 ms"),
                                 "pipeline.auto-watermark-interval")


class StreamExecutionEnvironment:
    def __init__(self) -> None:
        from strom.client.execution.context import current_target

        self._target = current_target()
        self._graph = StreamGraph()
        self._parallelism: int | None = None
        self._max_parallelism: int | None = None
        self._mode = RuntimeExecutionMode.STREAMING
        # ``strom run -D key=value`` reaches the job's configuration (as in Flink); the job's own
        # settings (set_buffer_timeout, configure, ...) override it
        self._job_config: dict[str, str] = dict(self._target.job_config)
        mode = self._job_config.get("execution.runtime-mode")
        if mode is not None:
            try:
                self._mode = RuntimeExecutionMode[mode.strip().upper()]
            except KeyError:
                raise ValueError(f"execution.runtime-mode must be STREAMING, BATCH or AUTOMATIC, "
                                 f"got {mode!r}") from None

    @staticmethod
    def get_execution_environment(configuration: Any = None) -> StreamExecutionEnvironment:
        env = StreamExecutionEnvironment()
        if configuration is not None:
            env.configure(dict(configuration))
        return env

    # ---- settings --------------------------------------------------------------

    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        """Default parallelism of this job's operators; it wins over ``strom run -p N``, as in Flink."""
        if not isinstance(parallelism, int) or parallelism < 1:
            raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
        self._parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        """The job's default parallelism: ``set_parallelism``, else ``strom run -p``, else
        ``parallelism.default`` (Flink's order)."""
        return self._parallelism or self._target.default_parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        if not 1 <= max_parallelism <= 32768:
            raise ValueError(f"max parallelism must be in 1..32768, got {max_parallelism}")
        self._max_parallelism = max_parallelism
        return self

    def set_runtime_mode(self, mode: RuntimeExecutionMode) -> StreamExecutionEnvironment:
        self._mode = mode
        return self

    def get_config(self) -> ExecutionConfig:
        """Job settings in PyFlink's ``ExecutionConfig`` form (watermark interval)."""
        return ExecutionConfig(self._job_config)

    def set_buffer_timeout(self, timeout_millis: int) -> StreamExecutionEnvironment:
        """Flush output buffers at least this often; 0 flushes every batch, -1 only when full (Flink)."""
        if int(timeout_millis) < -1:
            raise ValueError(f"buffer timeout must be -1, 0 or positive, got {timeout_millis}")
        self._job_config["execution.buffer-timeout.interval"] = f"{int(timeout_millis)} ms"
        return self

    def set_restart_strategy(self, strategy: dict[str, str]) -> StreamExecutionEnvironment:
        self._job_config.update(strategy)
        return self

    def configure(self, settings: dict[str, Any]) -> StreamExecutionEnvironment:
        """Job-level config keys (e.g. ``restart-strategy.type``), shipped with the job."""
        self._job_config.update({str(k): str(v) for k, v in settings.items()})
        return self

    # ---- sources -----------------------------------------------------------------

    def from_source(self, source: Source, watermark_strategy: Any = None,
                    source_name: str | None = None) -> DataStream:
        if not isinstance(source, Source):
            raise TypeError(f"from_source expects a Source, got {type(source).__name__}")
        node = self._graph.add_node(source_name or source.name, source=source)
        stream = DataStream(self, node)
        spec = getattr(watermark_strategy, "to_spec", lambda: None)()
        if spec is not None and (spec.timestamp_assigner is not None or spec.timestamp_column is not None):
            return stream.assign_timestamps_and_watermarks(watermark_strategy)
        return stream

    def from_collection(self, collection: Iterable[Any], type_info: Any = None) -> DataStream:
        """The records of a collection, emitted in order by one subtask."""
        return self.from_source(CollectionSource(list(collection)), source_name="Collection Source")

    def from_sequence(self, start: int, end: int) -> DataStream:
        """The integers start..end inclusive, split among parallel readers."""
        return self.from_source(NumberSequenceSource(start, end))

    def read_text_file(self, file_path: str, charset_name: str = "UTF-8") -> DataStream:
        """Lines of a file (or of every file in a directory), split among parallel readers."""
        if charset_name.upper().replace("-", "") != "UTF8":
            raise ValueError("read_text_file supports UTF-8 only")
        return self.from_source(TextFileSource(file_path))

    def read_csv(self, path: str, schema: pa.Schema | None = None, has_header: bool = False,
                 delimiter: str = ",", column_names: list[str] | None = None) -> DataStream:
        """CSV rows as Arrow batches (fast path); records are tuples in column order."""
        return self.from_source(CsvFileSource(path, schema, has_header, delimiter, column_names))

    # ---- execution -------------------------------------------------------------------

    def _effective_mode(self) -> str:
        if self._mode is RuntimeExecutionMode.AUTOMATIC:
            bounded = all(n.source.bounded for n in self._graph.nodes.values() if n.source is not None)
            return "BATCH" if bounded else "STREAMING"
        return self._mode.value

    def get_job_graph(self, job_name: str = "Strom Streaming Job") -> JobGraph:
        """Build and validate the JobGraph without submitting it."""
        config = dict(self._job_config)
        config["execution.runtime-mode"] = self._effective_mode()
        timeout = config.get("execution.buffer-timeout.interval")
        if timeout is not None and timeout.strip() != "-1 ms":
            parse_duration_ms(timeout, "execution.buffer-timeout.interval")
        max_par = self._max_parallelism or self._target.config.get_int(MAX_PARALLELISM)
        builder = JobGraphBuilder(
            self._graph, job_id=uuid.uuid4().hex, job_name=job_name,
            default_parallelism=self.get_parallelism(), max_parallelism=max_par, config=config,
            require_uids=str(config.get("pipeline.auto-generate-uids", "true")).lower() == "false")
        return builder.build()

    def execute(self, job_name: str = "Strom Streaming Job") -> JobExecutionResult:
        """Run the job and wait for it (or return at once when submitted detached with ``-d``)."""
        from strom.client.execution import executor

        job_graph = self.get_job_graph(job_name)
        self._graph = StreamGraph()  # like Flink: the environment can describe a new job afterwards
        return executor.execute(job_graph, detached=self._target.detached)

    def execute_async(self, job_name: str = "Strom Streaming Job") -> JobClient:
        from strom.client.execution import executor

        job_graph = self.get_job_graph(job_name)
        self._graph = StreamGraph()
        return executor.execute_async(job_graph)
