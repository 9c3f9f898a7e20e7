"""Device tests share the GPU with JAX, which would otherwise take 75% of its memory when
first imported."""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
