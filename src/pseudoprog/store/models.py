"""The service's tables: users and tokens, patients and their studies, jobs, assessments, sign-offs, outcomes, audit.

Times are stored as naive UTC (``utcnow``) so SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Naive UTC now: the one clock of the store."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


ROLES = ("reader", "admin")
JOB_STATUSES = ("queued", "running", "done", "failed")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Only a SHA-256 of the token is kept: a copy of the database does not hand out sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), unique=True)  # DICOM PatientID
    context_yaml: Mapped[str | None] = mapped_column(Text, nullable=True)
    context_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    study_uid: Mapped[str] = mapped_column(String(128), unique=True)
    study_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # one of JOB_STATUSES
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it failed, or what it waits for
    trigger: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Retries with backoff: a queued job is not claimed before not_before.
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # A running job whose lease has passed was left by a dead worker and is claimed again.
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phase: Mapped[str] = mapped_column(String(16), default="assess")  # assess → push → done
    result_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PushedObject(Base):
    """One DICOM object a job stored into PACS: a re-run after a crash skips what is listed here."""

    __tablename__ = "pushed_objects"
    __table_args__ = (UniqueConstraint("job_id", "sop_instance_uid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    sop_instance_uid: Mapped[str] = mapped_column(String(128))
    sop_class_uid: Mapped[str] = mapped_column(String(128))
    study_uid: Mapped[str] = mapped_column(String(128))
    file: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AssessmentRecord(Base):
    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    latest_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    interval_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    interval_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    criteria_call: Mapped[str | None] = mapped_column(String(128), nullable=True)
    assessment_json: Mapped[str] = mapped_column(Text)
    result_dir: Mapped[str] = mapped_column(Text)


class SignOff(Base):
    __tablename__ = "signoffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    agree: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Outcome(Base):
    """What happened: histology or follow-up, the label a site learns its cut-offs from."""

    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16))  # histology | follow_up
    result: Mapped[str] = mapped_column(String(32))  # progression | treatment_effect
    date: Mapped[dt.date] = mapped_column(Date)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Setting(Base):
    """Small service state: the Orthanc change-feed cursor, PACS reachability."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
