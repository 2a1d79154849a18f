"""``python -m bot …`` is the same as the ``chaski`` command."""

from __future__ import annotations

import sys

from bot.root.cli import main

sys.exit(main())
