"""Population arterial input function of Parker et al. (MRM 2006;56:993–1000).

The function is a sum of two Gaussians (first pass and recirculation) and an exponential modulated
by a sigmoid (washout), fitted to the mean of 113 AIFs from 23 patients. Parameters come from
``perfusion/data/dce_constants.yaml`` (Table 1 of the paper). Time is counted from the start of the
series; the curve is shifted by the bolus arrival ``delay_s`` and is zero before it.

>>> import numpy as np
>>> cb = parker_aif(np.array([0.0, 10.0, 60.0]))
>>> round(float(cb[1]), 2)
6.04
"""

from __future__ import annotations

import numpy as np

from ..tables import load_table


def parker_aif(t_s: np.ndarray, *, delay_s: float = 0.0) -> np.ndarray:
    """Whole-blood gadolinium concentration (mM) of the Parker population AIF at times ``t_s`` (s).

    Parameters
    ----------
    t_s
        Sample times in seconds from the start of the acquisition.
    delay_s
        Bolus arrival: the curve's time origin, in seconds. Before it the concentration is 0.

    Returns
    -------
    numpy.ndarray
        C_b(t) in mM (divide by ``1 - Hct`` for plasma).
    """
    if not np.isfinite(delay_s) or delay_s < 0:
        raise ValueError(f"delay_s must be a finite number ≥ 0, got {delay_s}")
    t_s = np.asarray(t_s, dtype=float)
    p = load_table("dce_constants")["parker_aif"]
    t = (t_s - delay_s) / 60.0  # minutes from arrival
    g1 = _gaussian(t, p["A1_mM_min"], p["T1_min"], p["sigma1_min"])
    g2 = _gaussian(t, p["A2_mM_min"], p["T2_min"], p["sigma2_min"])
    with np.errstate(over="ignore"):
        washout = p["alpha_mM"] * np.exp(-p["beta_per_min"] * t) / (1.0 + np.exp(-p["s_per_min"] * (t - p["tau_min"])))
    cb = g1 + g2 + washout
    return np.where(t_s < delay_s, 0.0, cb)


def _gaussian(t: np.ndarray, area: float, centre: float, sigma: float) -> np.ndarray:
    return area / (sigma * np.sqrt(2 * np.pi)) * np.exp(-((t - centre) ** 2) / (2 * sigma**2))
