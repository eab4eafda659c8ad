"""The Flink-compatible REST API: a small HTTP/1.1 server, a router, and Flink-shaped JSON handlers."""

from strom.jobmanager.rest.handlers import JobsView, RestApi, TaskManagersView
from strom.jobmanager.rest.server import RestServer

__all__ = ["JobsView", "RestApi", "RestServer", "TaskManagersView"]
