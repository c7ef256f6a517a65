"""Old path of :mod:`evgen.physics.observables`, kept only for imports not yet moved; import from there."""

from evgen.physics.observables import *  # noqa: F403
from evgen.physics.observables import __all__  # noqa: F401
