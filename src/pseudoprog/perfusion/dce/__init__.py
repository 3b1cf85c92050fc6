"""DCE-MRI: signal → concentration, arterial input, and Tofts / extended Tofts / Patlak maps.

The steps follow clinical_rules.md §5.2:

1. **Concentration.** The SPGR signal of every frame, relative to the pre-contrast baseline, gives
   R1(t) through the native T1 (a VFA map or a given value); C(t) = (R1(t) − R10) / r1 (fast
   exchange, linear relaxivity).
2. **Arterial input.** From a user's mask, from automatically chosen arterial voxels (largest
   enhancement, then earliest peak), or the Parker population AIF shifted to the detected bolus
   arrival (also used when an automatic AIF is too partial-volumed to be plausible). Whole-blood
   concentration becomes plasma with C_p = C_b / (1 − Hct).
3. **Models.** Standard Tofts C = Ktrans·(C_p ∗ e^(−kep t)); extended Tofts adds vp·C_p; Patlak
   C = vp·C_p + Ktrans·∫C_p. Every voxel starts from the linear least-squares solution of the
   integrated form (Murase, MRM 2004;51:858–862) and from a kep grid with the linear parameters
   solved in closed form (variable projection), whichever fits better; a Levenberg–Marquardt
   refinement then runs on all voxels at once. The convolution with e^(−kep t) is evaluated
   exactly for a piecewise-linear C_p by a recursion over time that is vectorised over voxels, with
   its analytic derivative in kep — so no loop over voxels anywhere.

Units: time in s at the interface, minutes inside the models (Ktrans, kep in 1/min); C in mM;
ve, vp fractions. Constants with their sources are in ``perfusion/data/dce_constants.yaml``.
"""

from .aif import ArterialInput, parker_plasma_input, select_arterial_voxels
from .concentration import detect_bolus_arrival, signal_to_concentration
from .constants import blood_t1_for, default_haematocrit, relaxivity_for
from .fitting import DceFit, FitStatus, fit_dce
from .maps import MAP_UNITS, DceResult, compute_dce_maps
from .models import MODELS, Model, exp_convolution, model_curves
from .protocol import protocol_warnings, validate_dynamic

__all__ = [
    "MAP_UNITS",
    "MODELS",
    "ArterialInput",
    "DceFit",
    "DceResult",
    "FitStatus",
    "Model",
    "blood_t1_for",
    "compute_dce_maps",
    "default_haematocrit",
    "detect_bolus_arrival",
    "exp_convolution",
    "fit_dce",
    "model_curves",
    "parker_plasma_input",
    "protocol_warnings",
    "relaxivity_for",
    "select_arterial_voxels",
    "signal_to_concentration",
    "validate_dynamic",
]
