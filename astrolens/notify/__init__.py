"""Notifiers: desktop-notifier on a desktop, a logging no-op when headless."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from astrolens.domain.ports import Notifier
from astrolens.notify.null import NullNotifier


def create_notifier(
    *,
    enabled: bool,
    on_review: Callable[[int], Any] | None = None,
    on_dismiss: Callable[[int], Any] | None = None,
) -> Notifier:
    """on_review(image_id) opens a candidate; on_dismiss(image_id) labels it a false positive."""
    if not enabled:
        return NullNotifier()
    from astrolens.notify.desktop import DesktopNotifier

    return DesktopNotifier(on_review=on_review, on_dismiss=on_dismiss)


__all__ = ["NullNotifier", "create_notifier"]
