"""``python -m drxkmc``: the same command line as ``drxkmc``."""

import sys

from drxkmc.cli import main

if __name__ == "__main__":
    sys.exit(main())
