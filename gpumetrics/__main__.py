"""``python -m gpumetrics``: the command line, as ``gpumetrics``."""

import sys

from gpumetrics.cli import main

sys.exit(main())
