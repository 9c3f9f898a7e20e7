"""Fixtures shared by the test modules."""

import pytest

# The host backends; every parity test runs once per backend. Session scope, so that
# hypothesis' @given tests may use the fixture.
HOST_BACKENDS = ("reference", "cpu")


@pytest.fixture(params=HOST_BACKENDS, scope="session")
def backend(request) -> str:
    return request.param
