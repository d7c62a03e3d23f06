"""What every part of the SQLite store shares: the open database, and binding the models to it.

The store is one class (repository.SqliteRepository) assembled from one part per port
(images.py, embeddings.py, scores.py, ...). Each part derives from `SqliteStoreBase`, which
declares the state they share; the repository's constructor sets it.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar, cast

from peewee import OperationalError as PeeweeOperationalError
from peewee import SqliteDatabase

from astrolens.domain.errors import StorageFullError
from astrolens.store.database import is_disk_full
from astrolens.store.models import ALL_MODELS
from astrolens.store.phash_index import PerceptualHashIndex

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="SqliteStoreBase")

# SQLite allows 999 bound parameters per statement in old builds; stay well below.
IN_CHUNK = 500


class SqliteStoreBase:
    """The state every part of the store works on (set by SqliteRepository.__init__)."""

    path: Path
    _db: SqliteDatabase
    # Perceptual hashes of stored images, for the look-alike duplicate search.
    _phashes: PerceptualHashIndex
    # How long to wait before asking a failed catalog again, by attempt number.
    _retry_delay: Callable[[int], timedelta]
    # How long to wait before reading a temporarily unreadable URI again, by failure count.
    _quarantine_retry_delay: Callable[[int], timedelta]


def bound(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Bind the models to this repository's database for the call.

    The models are module-level classes; binding per call (not once globally) keeps two
    open repositories (a test and its reopened copy) from writing into each other.
    """

    @functools.wraps(method)
    def wrapper(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._db.bind_ctx(ALL_MODELS):
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.OperationalError, PeeweeOperationalError) as exc:
                if is_disk_full(exc):
                    # The transaction rolled back: nothing half-written is kept.
                    raise StorageFullError(
                        f"the disk holding {self.path.parent} is full; free some space and "
                        "run again (nothing was lost: the last image was not stored)"
                    ) from exc
                raise

    return cast("Callable[Concatenate[_S, _P], _R]", wrapper)


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """`ids` in slices small enough for one `IN (...)`."""
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]
