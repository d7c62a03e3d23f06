"""Notifiers: desktop-notifier on a desktop, a logging no-op when headless."""

from __future__ import annotations

from astrolens.domain.ports import Notifier
from astrolens.notify.null import NullNotifier


def create_notifier(*, enabled: bool) -> Notifier:
    if not enabled:
        return NullNotifier()
    from astrolens.notify.desktop import DesktopNotifier

    return DesktopNotifier()


__all__ = ["NullNotifier", "create_notifier"]
