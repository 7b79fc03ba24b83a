"""``python -m replearn_tools <command>``: the same as the ``replearn`` console script."""
import sys

from .cli import main

sys.exit(main())
