"""Process-wide warning filters for the decoders, installed once at import.

``warnings.catch_warnings`` swaps the process's global filter list on entry and restores it on
exit, so two decode threads using it interleave: one thread's exit re-installs the filters the
other thread saw on entry, and a FITS file without an END card then printed ~20,000 astropy
warnings and stalled the scan. Filters installed once, before any thread decodes, have no such
race. They name only the warnings the decoders already treat as noise (damage surfaces as an
exception and becomes a quarantine reason).
"""

from __future__ import annotations

import threading
import warnings

_lock = threading.Lock()


def install_decoder_warning_filters() -> None:
    """Idempotent. Called at import and again when a decoder is built (from one thread), so a
    caller that reset the filter list (pytest does, per test) gets them back."""
    from astropy.io.fits.verify import VerifyWarning

    with _lock:
        if any(f[0] == "ignore" and f[2] is VerifyWarning for f in warnings.filters):
            return
        from astropy.utils.exceptions import AstropyUserWarning, AstropyWarning
        from astropy.wcs import FITSFixedWarning
        from PIL import Image

        # Old files bend the standard ("SIMPLE card format"); we verify by reading.
        warnings.filterwarnings("ignore", category=VerifyWarning)
        # Bad header bytes and truncation also surface as exceptions; the warnings are noise.
        warnings.filterwarnings("ignore", category=AstropyUserWarning, module=r"astropy\.io\.fits")
        # 'datfix' and friends only repair dates.
        warnings.filterwarnings("ignore", category=FITSFixedWarning)
        # Off-projection pixels and odd dates while mapping stamps to the sky.
        for module in (r"astropy\.wcs", r"astropy\.coordinates", r"astropy\.time", r"erfa"):
            warnings.filterwarnings("ignore", category=AstropyWarning, module=module)
        warnings.filterwarnings("ignore", message=r".*dubious year", module=r"erfa")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"astropy\.wcs")
        # We enforce our own decoded-size limit, with a clearer message than Pillow's.
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


install_decoder_warning_filters()
