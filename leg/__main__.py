"""``python -m leg``: the same as the ``leg`` command."""

import sys

from leg.cli import main

sys.exit(main())
