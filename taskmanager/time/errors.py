"""Errors of event-time handling. They extend the tree in ``strom.common.errors``:

    StromError
    └── TimestampAssignmentError    a record's event time could not be determined (names the step)
        └── MissingTimestampError   an event-time operation met a record without a timestamp
"""

from __future__ import annotations

from strom.common.errors import StromError


class TimestampAssignmentError(StromError):
    """A timestamp assigner or timestamp column gave something that is not event time."""


class MissingTimestampError(TimestampAssignmentError):
    """An event-time window or timer saw a record that has no timestamp."""
