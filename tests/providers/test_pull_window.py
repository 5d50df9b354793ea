"""PullWindow: the newest stamp seen and the look-back windows a later read settles once (issue 14)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ledgersync.model import ProviderError
from ledgersync.providers.util import MAX_WINDOWS, PullWindow

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
L = dt.timedelta(seconds=300)
S = dt.timedelta(seconds=1)


def test_nothing_seen_reads_everything_and_a_read_that_saw_nothing_leaves_no_window() -> None:
    w = PullWindow.load(None, L)
    assert w.since(T0) is None
    after = w.after_read(None, None, T0, T0 + S, L)
    assert after.newest is None and after.windows == ()


def test_the_next_read_starts_at_the_newest_stamp_and_the_window_is_read_once_when_due() -> None:
    newest = T0 - dt.timedelta(seconds=30)
    w = PullWindow.load(None, L).after_read(newest, None, T0, T0 + 2 * S, L)
    # The window reaches `lookback` behind the newest stamp, less the read's own duration, and is due after it.
    assert w.windows == ((newest - L - 2 * S, T0 + 2 * S + L),)
    w = PullWindow.load(w.dump(), L)
    assert w.since(T0 + 10 * S) == newest  # not due: only what is new
    later = T0 + 2 * S + L
    assert w.since(later) == newest - L - 2 * S  # due: read once more from its start
    settled = w.after_read(newest, w.since(later), later, later + S, L)
    assert [start for start, _ in settled.windows] == [newest - L - S]  # the old one is gone, the new read's added


def test_a_window_that_was_not_due_when_the_read_began_stays() -> None:
    newest = T0
    w = PullWindow(newest, ((newest - L, T0 + L),))
    after = w.after_read(newest + S, None, T0 + S, T0 + 2 * S, L)  # a full read, but before the window is due
    assert (newest - L, T0 + L) in after.windows


def test_windows_are_bounded_and_the_oldest_keeps_its_due_time() -> None:
    w = PullWindow(T0)
    first_due = None
    for k in range(12):
        now = T0 + dt.timedelta(seconds=10 * k)
        w = w.after_read(now, w.since(now), now, now, L)
        if first_due is None:
            first_due = w.windows[0][1]
    assert len(w.windows) == MAX_WINDOWS
    assert w.windows[0][1] == first_due  # cycles close together never push the oldest re-read further away


def test_a_cursor_from_before_reads_its_look_back_at_once() -> None:
    w = PullWindow.load(T0.isoformat(), L)
    assert w.newest == T0 and w.since(T0) == T0 - L


def test_a_stamp_seen_mid_read_keeps_the_windows() -> None:
    w = PullWindow(T0, ((T0 - L, T0 + L),))
    assert w.seen(T0 + S) == PullWindow(T0 + S, w.windows) and w.seen(T0 - S) is w
    assert json.loads(w.seen(T0 + S).dump())["newest"] == (T0 + S).isoformat()


def test_a_malformed_cursor_is_refused_rather_than_read_as_a_full_sync() -> None:
    with pytest.raises(ProviderError):
        PullWindow.load('{"newest": "yesterday"}', L)
