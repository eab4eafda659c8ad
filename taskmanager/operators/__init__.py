"""Operator implementations. The client builds instances; they travel cloudpickled
inside a JobVertex and are opened in the slot worker that runs the subtask."""
