"""Backend parametrisation shared by the suite: 'ref', 'lava', and 'loihi' when lava-loihi is
importable (skipped with the reason shown otherwise)."""
from __future__ import annotations

import pytest

from neurodeploy.lava.backend import LavaBackend, loihi_available
from neurodeploy.sim.reference import ReferenceSimulator

LOIHI_SKIP = pytest.mark.skipif(not loihi_available(),
                                reason="lava-loihi (Intel proprietary) not installed: "
                                       "no Loihi 2 hardware backend")
ALL = [pytest.param("ref"), pytest.param("lava", marks=pytest.mark.lava),
       pytest.param("loihi", marks=[pytest.mark.lava, LOIHI_SKIP])]
#: backends checked against the reference simulator
DEPLOYED = ALL[1:]


def run(backend: str, network, inputs, steps=None, **kw):
    """Run ``network`` on a backend and return its Traces."""
    if backend == "ref":
        return ReferenceSimulator(network, **kw).run(inputs, steps)
    return LavaBackend(network, hardware=backend == "loihi", **kw).run(inputs, steps)
