"""The task runtime: runs one subtask's operator chain between its input gates and its outputs."""
