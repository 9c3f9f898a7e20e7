"""The ``impl`` fixture of the kernel comparison suite: one kernel module per backend that
can run here (``_suite.BACKENDS``)."""

import pytest
from _suite import BACKENDS

from gpumetrics import dispatch


@pytest.fixture(params=BACKENDS, scope="module")
def impl(request):
    return dispatch._load(request.param)
