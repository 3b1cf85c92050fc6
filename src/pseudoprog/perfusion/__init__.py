"""Perfusion: DSC (rCBV, CBF, MTT with leakage correction), DCE (Ktrans, ve, vp), ASL (CBF), delayed-contrast maps."""
