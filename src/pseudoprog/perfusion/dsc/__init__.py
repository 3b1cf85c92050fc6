"""DSC perfusion, one idea per module: signal → ΔR2* (``signal``), arterial input (``aif``), deconvolution,
leakage correction, NAWM reference, protocol checks, the model that ties them together (``model``) and the
command's file input/output (``io``).
"""

from .model import DSCFit, DSCMap, DSCModel, LesionSummary, brain_mask, percentage_signal_recovery

__all__ = ["DSCFit", "DSCMap", "DSCModel", "LesionSummary", "brain_mask", "percentage_signal_recovery"]
