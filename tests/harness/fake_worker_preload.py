"""Imported by a TaskManager's fork server in tests: slot workers then run ``FakeTask`` and
``FakeNetworkEnvironment`` (see ``fake_worker_runtime``). Never import it in a test process."""

from tests.harness.fake_worker_runtime import install

install()
