"""``python -m convlab ...`` — the same as the ``convlab`` command."""

import sys

from .cli import main

sys.exit(main())
