"""Versions Strom processes compare before they talk to each other.

``PROTOCOL_VERSION`` is the version of the control-plane protocol between a
TaskManager and a JobManager (the RPCs in ``proto/`` and their semantics). A
TaskManager registering with a different version is rejected with a message
naming both versions. Bump it whenever a change makes old and new processes
misunderstand each other (adding optional proto fields does not).
"""

from __future__ import annotations

from strom import __version__ as STROM_VERSION

PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL_VERSION", "STROM_VERSION"]
