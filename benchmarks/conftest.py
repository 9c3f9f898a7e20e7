"""Collect ``bench_*.py`` files: ``pytest benchmarks --benchmark-only``.

The project's ``addopts`` has ``--benchmark-skip`` so that the test run stays fast;
``--benchmark-only`` overrides it.
"""

import pytest


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
