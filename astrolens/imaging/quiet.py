"""Process-wide warning filters for the decoders, installed once at import.

``warnings.catch_warnings`` swaps the process's global filter list on entry and restores it on
exit, so two decode threads using it interleave: one thread's exit re-installs the filters the
other thread saw on entry, and a FITS file without an END card then printed ~20,000 astropy
warnings and stalled the scan. Filters installed once, before any thread decodes, have no such
race. They name only the modules whose warnings the decoders already treat as noise (damage
surfaces as an exception and becomes a quarantine reason).
"""

from __future__ import annotations

import threading
import warnings

_lock = threading.Lock()


# Matched against the module that issues a warning (a prefix match). Module patterns, not
# astropy's warning classes, so that installing them imports no astropy: a scan of JPEGs and
# PNGs never loads it (0.5-0.9 s of start-up).
_NOISY_MODULES = (
    r"astropy\.io\.fits",  # old files bend the standard; damage surfaces as an exception
    r"astropy\.wcs",  # 'datfix'/'celfix' repairs, off-projection pixels
    r"astropy\.coordinates",  # odd dates while mapping stamps to the sky
    r"astropy\.time",
    r"erfa",  # "dubious year"
)


def install_decoder_warning_filters() -> None:
    """Idempotent. Called at import and again when a decoder is built (from one thread), so a
    caller that reset the filter list (pytest does, per test) gets them back."""
    from PIL import Image

    with _lock:
        if any(
            f[0] == "ignore" and f[3] is not None and f[3].pattern == _NOISY_MODULES[0]
            for f in warnings.filters
        ):
            return
        for module in _NOISY_MODULES:
            warnings.filterwarnings("ignore", module=module)
        # We enforce our own decoded-size limit, with a clearer message than Pillow's.
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


install_decoder_warning_filters()
