"""What every end-to-end test needs besides the servers (tests/conftest.py): the real chain."""
from __future__ import annotations

import os

import pytest

from scripts import demo_inputs


@pytest.fixture(scope="session")
def chain_ready():
    """The chain's fingerprint as the stack's worker runs it; skip (saying why) when the chain
    cannot run here: these tests check the batch system around the real chain and never
    substitute a fake one."""
    from models import chain
    try:
        opts = chain.ChainOptions(mode=os.environ.get("TRYON_CHAIN", "registry"))
        chain.prepare_person(demo_inputs.astronaut_bgr(), opts, name="astronaut")
    except Exception as e:  # ImportError (stage pending), MissingWeightsError (run `make models`)
        pytest.skip(f"the try-on chain does not run here ({type(e).__name__}: {e}); run `make models`")
    return opts.fingerprint()

