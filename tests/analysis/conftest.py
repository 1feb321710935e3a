import warnings

import pytest


@pytest.fixture(autouse=True)
def _no_numba_experimental_noise():
    try:
        from numba.core.errors import NumbaExperimentalFeatureWarning
    except ImportError:  # pragma: no cover
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        yield
