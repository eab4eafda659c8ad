"""Sources: each parallel reader produces batches for the head of its chain."""
