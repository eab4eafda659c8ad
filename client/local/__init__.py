"""The embedded local cluster: a JobManager and a TaskManager as child processes of the client."""
