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


@pytest.fixture(autouse=True, scope="session")
def _traced_models_in_a_session_folder(tmp_path_factory):
    """Traced user models go to a folder of this test session, not the user's cache."""
    import os
    old = os.environ.get("LOOPSCOPE_TRACED_CACHE")
    os.environ["LOOPSCOPE_TRACED_CACHE"] = str(tmp_path_factory.mktemp("traced_models"))
    yield
    if old is None:
        os.environ.pop("LOOPSCOPE_TRACED_CACHE", None)
    else:
        os.environ["LOOPSCOPE_TRACED_CACHE"] = old
