"""The frozen app's entry point: the same `lmdesk` command as the console script."""

import sys

from lmdesk.cli import main

if __name__ == "__main__":
    sys.exit(main())
