"""`python -m astrolens`: the same entry point as the `astrolens` command (and the bundle)."""

import sys

from astrolens.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
