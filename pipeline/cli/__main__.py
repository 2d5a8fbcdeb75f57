"""``python -m pipeline.cli``: the same as the ``sla-pipeline`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
