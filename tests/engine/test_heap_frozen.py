"""sync.heap_frozen: the heap frozen and the youngest generation collected less often while cycles run, the
process's own collector settings back after the last one."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ledgersync.engine.sync import CYCLE_GC_GEN0, heap_frozen


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_nested_cycles_keep_the_settings_until_the_last_ends(thresholds: tuple[int, int, int]) -> None:
    with heap_frozen():
        assert gc.get_threshold() == (CYCLE_GC_GEN0, 10, 10) and gc.get_freeze_count() > 0
        with heap_frozen():
            assert gc.get_threshold() == (CYCLE_GC_GEN0, 10, 10)
        assert gc.get_threshold() == (CYCLE_GC_GEN0, 10, 10) and gc.get_freeze_count() > 0
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0


def test_a_higher_threshold_of_the_process_is_kept_and_restored_after_an_error() -> None:
    before = gc.get_threshold()
    gc.set_threshold(CYCLE_GC_GEN0 * 3, 5, 5)
    try:
        with pytest.raises(RuntimeError), heap_frozen():
            assert gc.get_threshold() == (CYCLE_GC_GEN0 * 3, 5, 5)
            raise RuntimeError("cycle failed")
        assert gc.get_threshold() == (CYCLE_GC_GEN0 * 3, 5, 5)
    finally:
        gc.set_threshold(*before)
