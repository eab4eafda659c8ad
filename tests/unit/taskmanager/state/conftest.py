"""Shared doubles for the state tests: a settable millisecond clock."""

import pytest


class FakeClock:
    """A TTL clock the test moves by hand (milliseconds)."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000)
