"""`python -m astrolens`: the same entry point as the `astrolens` command (and the bundle)."""

import multiprocessing
import sys

from astrolens.app.cli import main

if __name__ == "__main__":
    # In the bundle, a decode worker process is this same executable: freeze_support makes it
    # run the worker instead of the app (a no-op when not frozen).
    multiprocessing.freeze_support()
    sys.exit(main())
