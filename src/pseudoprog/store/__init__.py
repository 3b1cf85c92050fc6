"""Persistence of the reading-room service: SQLAlchemy models and Alembic migrations (SQLite default, PostgreSQL)."""

from .db import Store, default_url, normalise_url
from .models import (
    ApiToken,
    AssessmentRecord,
    AuditEvent,
    Base,
    Job,
    Outcome,
    Patient,
    PushedObject,
    Setting,
    SignOff,
    Study,
    User,
    utcnow,
)

__all__ = [
    "ApiToken",
    "AssessmentRecord",
    "AuditEvent",
    "Base",
    "Job",
    "Outcome",
    "Patient",
    "PushedObject",
    "Setting",
    "SignOff",
    "Store",
    "Study",
    "User",
    "default_url",
    "normalise_url",
    "utcnow",
]
