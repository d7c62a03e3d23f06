"""Notification grouping rules and the autostart entry (no desktop needed)."""

from __future__ import annotations

from pathlib import Path

from astrolens.app.autostart import autostart_enabled, autostart_path, set_autostart
from astrolens.notify.throttle import NotificationThrottle


def test_a_few_anomalies_are_shown_one_by_one() -> None:
    t: NotificationThrottle[int] = NotificationThrottle(max_individual=3, window_s=60)
    t.offer([1, 2], now=0)
    out, again = t.flush(now=0)
    assert [o.items for o in out] == [(1,), (2,)] and again is None


def test_ten_in_a_minute_become_one_grouped_notification() -> None:
    t: NotificationThrottle[int] = NotificationThrottle(max_individual=3, window_s=60)
    t.offer(list(range(10)), now=0)
    out, _ = t.flush(now=0)
    assert len(out) == 1 and out[0].grouped and out[0].items == tuple(range(10))


def test_a_trickle_is_capped_and_nothing_is_lost() -> None:
    t: NotificationThrottle[int] = NotificationThrottle(max_individual=3, window_s=60)
    shown: list[tuple[float, tuple[int, ...]]] = []
    due: float | None = None
    now = 0.0
    arrivals = {6.0 * i: i for i in range(10)}  # one anomaly every 6 s
    while now <= 300:
        if now in arrivals:
            t.offer([arrivals[now]], now)
        if now in arrivals or (due is not None and now >= due):
            out, due = t.flush(now)
            shown.extend((now, o.items) for o in out)
        now += 1.0
    singles = [at for at, items in shown if len(items) == 1]
    groups = [items for _, items in shown if len(items) > 1]
    assert sorted(i for _, items in shown for i in items) == list(range(10))
    assert len(shown) <= 5, shown  # ten anomalies, a handful of notifications
    for at in singles:  # never more than three one-by-one within a minute
        assert sum(1 for s in singles if at <= s < at + 60) <= 3
    assert len(groups) >= 1


def test_autostart_entry_is_written_and_removed(isolated_home: Path) -> None:
    path = autostart_path("linux")
    assert path is not None and not autostart_enabled("linux")
    set_autostart(True, "linux")
    text = path.read_text()
    assert "[Desktop Entry]" in text and "Exec=" in text and "astrolens" in text
    assert autostart_enabled("linux")
    set_autostart(False, "linux")
    assert not path.exists()


def test_macos_launch_agent_plist(isolated_home: Path) -> None:
    import plistlib

    set_autostart(True, "darwin")
    path = autostart_path("darwin")
    assert path is not None
    data = plistlib.loads(path.read_bytes())
    assert data["RunAtLoad"] and data["Label"] == "org.astrolens.agent"
