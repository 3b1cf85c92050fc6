"""Report: assessment.json → a report a clinician reads (HTML now; PDF and DICOM objects later)."""
