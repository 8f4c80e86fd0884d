"""``python -m sim.cli``: the ``tinybots`` console script."""

from __future__ import annotations

import sys

from sim.cli import main

sys.exit(main())
