"""The Dispatcher: submit, list, get, cancel; one JobMaster per job; archive of ended jobs."""

from strom.jobmanager.dispatcher.dispatcher import ArchivedJob, Dispatcher

__all__ = ["ArchivedJob", "Dispatcher"]
