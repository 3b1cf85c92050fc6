"""Align: bring images of a timepoint, and timepoints of a case, into one space (and back)."""
