"""Sinks: the end of a pipeline."""
