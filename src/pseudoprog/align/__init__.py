"""Align: bring images of a timepoint, and timepoints of a case, into one space (and back).

One registration (:func:`register`, returning a :class:`Registration`) and one warp (:func:`warp`).
"""

from .registration import Registration, identity, register, same_grid
from .warp import Grid, coarsen, warp, warp_mask

__all__ = ["Grid", "Registration", "coarsen", "identity", "register", "same_grid", "warp", "warp_mask"]
