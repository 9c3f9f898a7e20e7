"""``python -m gpumetrics``: the command line, as ``gpumetrics``."""

import sys

from gpumetrics.cli import run

sys.exit(run())
