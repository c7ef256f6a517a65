"""Old path of :mod:`evgen.physics.magic`, kept only for imports not yet moved; import from there."""

from evgen.physics.magic import *  # noqa: F403
from evgen.physics.magic import __all__  # noqa: F401
