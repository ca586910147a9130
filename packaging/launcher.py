"""The frozen app's entry point: the same `lmdesk` command as the console script."""

import multiprocessing
import sys

from lmdesk.cli import main

if __name__ == "__main__":
    # A load over workers runs its engine in a spawned child (core.engine.isolated): in the
    # frozen app that child is this executable again, which must run the child, not the app.
    multiprocessing.freeze_support()
    sys.exit(main())
