"""What a person said about a candidate."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class LabelValue(enum.StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class Label:
    image_id: int
    value: LabelValue
    author: str
    created_at: datetime
    note: str = ""
    origin: str = "ui"  # "ui", "notification", "cli", "import"
