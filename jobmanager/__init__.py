"""The JobManager: Dispatcher, ResourceManager, one JobMaster per job, REST; see ``entrypoint``."""
