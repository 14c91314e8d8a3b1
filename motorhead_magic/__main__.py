"""``python -m motorhead_magic serve|import ...``: the same as the console script."""

import sys

from .cli import main

sys.exit(main())
