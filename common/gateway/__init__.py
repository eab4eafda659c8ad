"""One client-side gateway class per gRPC service (see docs/architecture.md).

    from strom.common.gateway import DispatcherGateway
    job_id = DispatcherGateway("127.0.0.1:6123").submit_job(job_graph)

Imported lazily, so that importing one gateway does not load every service's
generated code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DispatcherGateway": "strom.common.gateway.dispatcher",
    "LeaderInfo": "strom.common.gateway.dispatcher",
    "ResourceManagerGateway": "strom.common.gateway.resource_manager",
    "Registration": "strom.common.gateway.resource_manager",
    "SlotStatus": "strom.common.gateway.resource_manager",
    "JobMasterGateway": "strom.common.gateway.job_master",
    "TaskExecutorGateway": "strom.common.gateway.task_executor",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'strom.common.gateway' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
