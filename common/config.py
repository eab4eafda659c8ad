"""Configuration: defaults < conf/strom.yaml (or --config) < environment < CLI flags.

Keys follow Flink's names where Flink has them. The file is Flink's flat
``key: value`` YAML subset (one key per line, ``#`` comments). The environment
contributes ``STROM_PROPERTIES`` (newline-separated ``key: value`` lines, like
Flink's ``FLINK_PROPERTIES``), and ``STROM_CONF_DIR`` says where
``strom.yaml`` lives.

    conf = Configuration.load(overrides={"rest.port": "0"})
    conf.get_int(REST_PORT)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from strom.common.errors import ConfigurationError


@dataclass(frozen=True)
class ConfigOption:
    key: str
    default: str | None
    description: str


_OPTIONS: dict[str, ConfigOption] = {}


def option(key: str, default: Any, description: str) -> ConfigOption:
    opt = ConfigOption(key, None if default is None else str(default), description)
    _OPTIONS[key] = opt
    return opt


JOBMANAGER_RPC_ADDRESS = option("jobmanager.rpc.address", "127.0.0.1", "Address clients and TaskManagers use to reach the JobManager.")
JOBMANAGER_RPC_PORT = option("jobmanager.rpc.port", 6123, "gRPC port of the JobManager (0 = any free port).")
JOBMANAGER_BIND_HOST = option("jobmanager.bind-host", "127.0.0.1", "Interface the JobManager's gRPC server binds to.")
REST_PORT = option("rest.port", 8081, "Port of the REST API (0 = any free port).")
REST_ADDRESS = option("rest.address", "127.0.0.1", "Address clients use to reach the REST API.")
REST_BIND_ADDRESS = option("rest.bind-address", "127.0.0.1", "Interface the REST server binds to.")
TASKMANAGER_SLOTS = option("taskmanager.numberOfTaskSlots", os.cpu_count() or 1, "Slots a TaskManager offers; each is one worker process.")
TASKMANAGER_HOST = option("taskmanager.host", "127.0.0.1", "Address the TaskManager's RPC and data servers bind to and advertise.")
TASKMANAGER_RPC_PORT = option("taskmanager.rpc.port", 0, "gRPC port of the TaskManager (0 = any free port).")
PARALLELISM_DEFAULT = option("parallelism.default", 1, "Parallelism of jobs that do not set one.")
MAX_PARALLELISM = option("pipeline.max-parallelism", 128, "Number of key groups; upper bound for rescaling.")
RUNTIME_MODE = option("execution.runtime-mode", "STREAMING", "STREAMING, BATCH or AUTOMATIC.")
HEARTBEAT_INTERVAL = option("heartbeat.interval", "10 s", "Interval between heartbeats.")
HEARTBEAT_TIMEOUT = option("heartbeat.timeout", "50 s", "A peer silent this long is considered lost.")
RESTART_STRATEGY = option("restart-strategy.type", "none", "none | fixed-delay.")
RESTART_ATTEMPTS = option("restart-strategy.fixed-delay.attempts", 1, "Restarts before the job fails.")
RESTART_DELAY = option("restart-strategy.fixed-delay.delay", "1 s", "Delay before each restart.")
SLOT_REQUEST_TIMEOUT = option("slot.request.timeout", "5 min", "How long a job waits for the slots it needs.")
BUFFER_TIMEOUT = option("execution.buffer-timeout.interval", "100 ms", "Output buffers flush at least this often.")
BUFFER_SIZE_ROWS = option("taskmanager.network.batch-rows", 8192, "Rows per output batch before it is flushed.")
CHANNEL_BUFFER_BYTES = option("taskmanager.network.channel-buffer-bytes", 4 * 1024 * 1024, "Bytes queued per channel before the producer blocks.")
HA_TYPE = option("high-availability.type", "standalone", "standalone | zookeeper.")
HA_ZK_QUORUM = option("high-availability.zookeeper.quorum", None, "host:port[,host:port...] of ZooKeeper.")
HA_ZK_ROOT = option("high-availability.zookeeper.path.root", "/strom", "Root znode.")
HA_CLUSTER_ID = option("high-availability.cluster-id", "default", "Separates clusters sharing one ZooKeeper.")
HA_STORAGE_DIR = option("high-availability.storageDir", None, "pyarrow.fs URI for job graphs and checkpoint metadata.")
HA_ZK_SESSION_TIMEOUT = option("high-availability.zookeeper.client.session-timeout", "60 s", "ZooKeeper session timeout.")
HA_ZK_CONNECTION_TIMEOUT = option("high-availability.zookeeper.client.connection-timeout", "15 s", "How long to wait for ZooKeeper at start.")
JOBMANAGER_PORTS_FILE = option("jobmanager.ports-file", None, "If set, the JobManager writes its bound ports there as JSON once serving.")
TASKMANAGER_REGISTRATION_TIMEOUT = option("taskmanager.registration.timeout", "5 min", "A TaskManager that cannot register this long exits.")
CANCEL_TIMEOUT = option("jobmanager.execution.cancel-timeout", "10 s", "Cancelled tasks that never confirm are treated as gone after this.")
EVENLY_SPREAD_SLOTS = option("cluster.evenly-spread-out-slots", "false", "Spread a job's slots over TaskManagers instead of filling one first.")
WORKER_PRELOAD_MODULES = option("taskmanager.worker.preload-modules", "", "Extra modules (comma-separated) the slot workers' fork server imports once.")
WATERMARK_INTERVAL = option("pipeline.auto-watermark-interval", "200 ms", "How often assign_timestamps_and_watermarks emits watermarks (0 = only at the end of input).")
LOG_DIR = option("env.log.dir", None, "Directory for per-process log files (default: log/ under the working directory).")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNITS_MS = {"": 1.0, "ms": 1.0, "milli": 1.0, "millis": 1.0, "s": 1000.0, "sec": 1000.0, "secs": 1000.0,
             "second": 1000.0, "seconds": 1000.0, "min": 60000.0, "m": 60000.0, "minute": 60000.0,
             "minutes": 60000.0, "h": 3600000.0, "hour": 3600000.0, "hours": 3600000.0}


def parse_duration_ms(text: str, key: str = "?") -> int:
    """'100 ms' -> 100, '10 s' -> 10000, '5' -> 5 (milliseconds); '-1 ms' -> -1 (a 'never' marker)."""
    if str(text).strip() in {"-1", "-1 ms"}:
        return -1
    m = _DURATION.match(str(text))
    if not m or m.group(2).lower() not in _UNITS_MS:
        raise ConfigurationError(f"config key '{key}': cannot read {text!r} as a duration (try '500 ms' or '10 s')")
    return int(float(m.group(1)) * _UNITS_MS[m.group(2).lower()])


def parse_properties(text: str, source: str) -> dict[str, str]:
    """Flink's flat YAML subset: ``key: value`` per line."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if ":" not in line:
            raise ConfigurationError(f"{source}:{lineno}: expected 'key: value', got {raw!r}")
        key, value = line.split(":", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def parse_dynamic_properties(pairs: Iterable[str]) -> dict[str, str]:
    """``-D key=value`` flags."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigurationError(f"-D expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


class Configuration:
    """String key/value configuration with typed getters. Immutable by convention once a component starts."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})

    @classmethod
    def load(cls, path: str | None = None, overrides: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None) -> Configuration:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        if path is None:
            conf_dir = env.get("STROM_CONF_DIR", "conf")
            candidate = os.path.join(conf_dir, "strom.yaml")
            path = candidate if os.path.exists(candidate) else None
        elif not os.path.exists(path):
            raise ConfigurationError(f"config file {path!r} does not exist")
        if path is not None:
            with open(path, encoding="utf-8") as f:
                values.update(parse_properties(f.read(), path))
        if env.get("STROM_PROPERTIES"):
            values.update(parse_properties(env["STROM_PROPERTIES"], "STROM_PROPERTIES"))
        values.update(overrides or {})
        return cls(values)

    def with_overrides(self, overrides: Mapping[str, str]) -> Configuration:
        return Configuration({**self._values, **overrides})

    def to_dict(self) -> dict[str, str]:
        return dict(self._values)

    def effective(self) -> dict[str, str]:
        """Every known option with its value (set or default), plus unknown keys that were set."""
        out = {k: o.default for k, o in _OPTIONS.items() if o.default is not None}
        out.update(self._values)
        return dict(sorted(out.items()))

    def contains(self, opt: ConfigOption | str) -> bool:
        return (opt.key if isinstance(opt, ConfigOption) else opt) in self._values

    def get(self, opt: ConfigOption | str, default: str | None = None) -> str | None:
        if isinstance(opt, ConfigOption):
            return self._values.get(opt.key, opt.default if default is None else default)
        return self._values.get(opt, default)

    def get_str(self, opt: ConfigOption) -> str:
        value = self.get(opt)
        if value is None:
            raise ConfigurationError(f"config key '{opt.key}' must be set")
        return value

    def get_int(self, opt: ConfigOption) -> int:
        value = self.get_str(opt)
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"config key '{opt.key}': expected an integer, got {value!r}") from None

    def get_bool(self, opt: ConfigOption) -> bool:
        value = self.get_str(opt).lower()
        if value not in {"true", "false"}:
            raise ConfigurationError(f"config key '{opt.key}': expected true or false, got {value!r}")
        return value == "true"

    def get_duration_ms(self, opt: ConfigOption) -> int:
        return parse_duration_ms(self.get_str(opt), opt.key)


def all_options() -> list[ConfigOption]:
    return sorted(_OPTIONS.values(), key=lambda o: o.key)
