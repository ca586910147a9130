"""``python -m lmdesk`` and the ``lmdesk`` console script."""

import sys

from lmdesk.cli import main

if __name__ == "__main__":
    sys.exit(main())
