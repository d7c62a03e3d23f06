"""Run as a subprocess by test_crash.py: store scored images in a loop until killed.

Order matters and mirrors the pipeline: the blob is written (atomically) first, then one
transaction adds image + embedding + score + candidate. So a row implies a complete file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from astrolens.domain.scoring import Verdict
from astrolens.store.blobs import FileBlobStore
from astrolens.store.repository import SqliteRepository
from tests.store.builders import MODEL, decoded, embedding, original_bytes, result

ORIGINAL_SIZE = 256 * 1024  # big enough that a kill often lands inside a write


def main(db_path: Path, blob_root: Path, count: int) -> None:
    repo = SqliteRepository(db_path)
    blobs = FileBlobStore(blob_root)
    verdicts = (Verdict.NORMAL, Verdict.NORMAL, Verdict.NEAR_MISS, Verdict.ANOMALY)
    for seed in range(count):
        data = original_bytes(seed, ORIGINAL_SIZE)
        image = decoded(seed, original=data, shape=(64, 64))
        image_path, thumb_path = blobs.put_image(image, data)
        verdict = verdicts[seed % len(verdicts)]
        repo.add_scored_image(
            image, image_path, thumb_path, embedding(seed), MODEL, result(verdict, float(seed))
        )
        print(seed, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
