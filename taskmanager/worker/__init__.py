"""Slot worker processes: one per allocated slot, forked from a preloaded parent."""
