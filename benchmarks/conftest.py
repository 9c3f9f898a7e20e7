"""Collect ``bench_*.py`` files: ``pytest benchmarks --benchmark-only`` (pytest-benchmark).

The test run never collects them: ``testpaths`` names ``tests`` and ``gpumetrics`` only, so
plain pytest (without pytest-benchmark, as on a GPU image) runs the tests as they are.
"""

import pytest


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
