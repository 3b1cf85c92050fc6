"""The reading-room and PACS service: FastAPI app, jobs in worker processes, Orthanc/DICOMweb, auth and audit.

Needs the ``service`` extra (``pip install -e .[service]``); nothing here is imported by the assessment stages.
"""
