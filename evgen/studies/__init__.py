"""Statistical studies: orchestrations of generators and metrics that add no model code.

* :mod:`evgen.studies.matchev`: the "perfect GAN" Gaussian toy of Matchev et al.,
  Appendix A (``evgen study matchev``);
* :mod:`evgen.studies.ganplify`: amplification of the toy GAN (``evgen study ganplify``);
* :mod:`evgen.studies.amplification`: predicted vs measured amplification (``evgen study amplification``).

Their reports and figures are written by :mod:`evgen.validation.records`; their commands
live in :mod:`evgen.cli.studies`. Sub-modules are imported where used, so importing this
package stays light.
"""

from __future__ import annotations

__all__: list[str] = []
