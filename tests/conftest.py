import signal

import pytest


@pytest.fixture
def interactive_ctrl_c():
    """Ctrl-C as an interactive Python or a notebook kernel has it (default_int_handler), whatever
    started the tests: a shell without job control starts its background jobs with SIGINT
    ignored, and Python keeps it ignored. Restored afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
