"""The TaskManager's slot table: pure logic."""

from __future__ import annotations

import pytest

from strom.taskmanager.executor.slot_table import SlotAllocationError, SlotStatus, SlotTable

pytestmark = pytest.mark.timeout(10)


def test_new_table_reports_every_slot_free() -> None:
    table = SlotTable(3)
    assert table.report() == [SlotStatus(0), SlotStatus(1), SlotStatus(2)]
    assert table.num_free() == 3
    assert table.allocations() == []


def test_allocate_is_idempotent_for_the_same_allocation() -> None:
    table = SlotTable(2)
    assert table.allocate(1, "a1", "j1") is True
    assert table.allocate(1, "a1", "j1") is False
    assert table.report() == [SlotStatus(0), SlotStatus(1, "a1", "j1")]
    assert table.get("a1") == SlotStatus(1, "a1", "j1")
    assert table.num_free() == 1


def test_slot_taken_by_another_allocation_is_refused_with_both_names() -> None:
    table = SlotTable(2)
    table.allocate(0, "a1", "j1")
    with pytest.raises(SlotAllocationError, match=r"slot 0 is taken by allocation a1 of job j1.*a2 of job j2"):
        table.allocate(0, "a2", "j2")
    # the same allocation id for another job is a conflict too
    with pytest.raises(SlotAllocationError, match="taken"):
        table.allocate(0, "a1", "j2")
    assert table.get("a1") == SlotStatus(0, "a1", "j1")


def test_an_allocation_holds_one_slot_only() -> None:
    table = SlotTable(2)
    table.allocate(0, "a1", "j1")
    with pytest.raises(SlotAllocationError, match="already holds slot 0"):
        table.allocate(1, "a1", "j1")
    assert not table.report()[1].allocation_id


@pytest.mark.parametrize("index", [-1, 2, 99])
def test_unknown_slot_index_is_refused(index: int) -> None:
    with pytest.raises(SlotAllocationError, match=r"slots 0\.\.1"):
        SlotTable(2).allocate(index, "a1", "j1")


def test_allocation_needs_ids() -> None:
    with pytest.raises(SlotAllocationError):
        SlotTable(1).allocate(0, "", "j1")
    with pytest.raises(SlotAllocationError):
        SlotTable(1).allocate(0, "a1", "")


def test_free_releases_the_slot_and_is_idempotent() -> None:
    table = SlotTable(2)
    table.allocate(0, "a1", "j1")
    assert table.free("a1", "done") == SlotStatus(0, "a1", "j1")
    assert table.free("a1") is None
    assert table.get("a1") is None
    assert table.num_free() == 2
    # a freed slot can be given to someone else
    assert table.allocate(0, "a2", "j2") is True


def test_allocations_of_job() -> None:
    table = SlotTable(3)
    table.allocate(0, "a1", "j1")
    table.allocate(1, "a2", "j2")
    table.allocate(2, "a3", "j1")
    assert [s.allocation_id for s in table.allocations_of_job("j1")] == ["a1", "a3"]
    assert [s.slot_index for s in table.allocations()] == [0, 1, 2]


def test_needs_at_least_one_slot() -> None:
    with pytest.raises(ValueError):
        SlotTable(0)
