"""``python -m pipeline`` is the ``susulan`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
