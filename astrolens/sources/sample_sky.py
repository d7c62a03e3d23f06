"""The offline default source: a Hubble deep field that ships inside scikit-image.

It lets a fresh install with no network and no configuration show real work at once: the
picture is handed to the decoder as a frame, which cuts it into a stamp per galaxy.

What the image is: scikit-image's ``data.hubble_deep_field()`` is, per its own docstring, the
Hubble eXtreme Deep Field (XDF), HubbleSite news release 2012-37a: an 8-bit colour composite
of HST ACS and WFC3/IR exposures of a patch inside the Hubble Ultra Deep Field, in Fornax.
It is not the 1995 HDF-North (WFPC2, in Ursa Major), so the nominal position given here is the
XDF's. The JPEG has no WCS, so only the frame carries that nominal centre; its stamps get no sky
position of their own (an offset in pixels means nothing without a known scale and rotation).
"""

from __future__ import annotations

import asyncio
import io
from importlib import resources

from astrolens.domain.cursors import CursorStore
from astrolens.domain.errors import SourceUnavailableError
from astrolens.domain.images import ImageGroup, Provenance, RawImage
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask, SourceState, SourceStatus
from astrolens.sources.registry import SourceInfo, register

SOURCE_ID = "sample-sky"
IMAGE_NAME = "hubble_deep_field.jpg"
IMAGE_URI = "skimage://data/hubble_deep_field.jpg"
# XDF field centre, RA 03h32m38.5s, Dec -27d47m00s (nominal: the picture has no astrometry).
FIELD_CENTRE = SkyPosition(ra_deg=(3 + 32 / 60 + 38.5 / 3600) * 15.0, dec_deg=-(27 + 47 / 60))
_DONE = "done"


def load_image_bytes() -> bytes:
    """The JPEG exactly as scikit-image ships it (no re-encoding, no download). Blocking."""
    try:
        return (resources.files("skimage") / "data" / IMAGE_NAME).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        pass
    # A scikit-image whose layout hides the file: take the array and encode it losslessly.
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.hubble_deep_field()).save(buffer, format="PNG")
    return buffer.getvalue()


class SampleSkySource:
    """Implements astrolens.domain.ports.ImageSource with one offline task."""

    def __init__(self, cursor_store: CursorStore | None = None) -> None:
        self._cursors = cursor_store
        self._state = SourceState.IDLE
        self._planned = False
        self._done: bool | None = None  # unknown until the cursor is read
        self._fetched = 0

    @property
    def id(self) -> str:
        return SOURCE_ID

    @property
    def group(self) -> ImageGroup:
        return ImageGroup.SURVEY  # the stamps are survey-like galaxies; the frame is a PICTURE

    def status(self) -> SourceStatus:
        return SourceStatus(SOURCE_ID, self._state, "Hubble eXtreme Deep Field (offline sample)",
                            fetched=self._fetched)  # fmt: skip

    async def plan(self, limit: int) -> list[FetchTask]:
        if self._done is None:
            stored = await self._cursors.get(SOURCE_ID) if self._cursors is not None else None
            self._done = stored == _DONE
        if self._done or self._planned or limit <= 0:
            if self._done:
                self._state = SourceState.EXHAUSTED
            return []
        self._planned = True
        self._state = SourceState.ACTIVE
        return [FetchTask(source_id=SOURCE_ID, uri=IMAGE_URI, cursor=_DONE, sky=FIELD_CENTRE)]

    async def fetch(self, task: FetchTask) -> RawImage:
        try:
            data = await asyncio.to_thread(load_image_bytes)
        except Exception as exc:  # a broken scikit-image install: say so, don't crash the run
            raise SourceUnavailableError(f"sample sky image not available: {exc}") from exc
        self._fetched += 1
        return RawImage(
            provenance=Provenance(
                source_id=SOURCE_ID,
                uri=IMAGE_URI,
                survey="HST ACS+WFC3 colour composite (Hubble eXtreme Deep Field, STScI 2012-37a)",
                sky=FIELD_CENTRE,
                extra={"position": "nominal field centre; the image has no WCS"},
            ),
            name=IMAGE_NAME,
            data=data,
            group=ImageGroup.SURVEY,
        )

    async def mark_done(self, task: FetchTask) -> None:
        self._done = True
        self._state = SourceState.EXHAUSTED
        if self._cursors is not None:
            await self._cursors.set(SOURCE_ID, _DONE)

    async def aclose(self) -> None:
        return None


register(
    SourceInfo(
        id=SOURCE_ID,
        title="Sample sky (offline)",
        group=ImageGroup.SURVEY,
        online=False,
        factory=SampleSkySource,
        description="The Hubble eXtreme Deep Field bundled with scikit-image, cut into galaxies",
    )
)
