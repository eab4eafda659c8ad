"""TaskExecutor daemon: slots, registration and heartbeats, slot worker processes (see entrypoint.py)."""
