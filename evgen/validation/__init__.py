"""Validation: histogram comparisons, figure pages and reports, classifier tests, calibration.

>>> from evgen.validation import validate

:func:`validate` lives in :mod:`evgen.validation.compare`; the other parts are imported where used.
"""

from __future__ import annotations

from evgen.validation.compare import validate

__all__ = ["validate"]
