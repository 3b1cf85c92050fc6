"""The store on SQLite and PostgreSQL: migrations, the job queue's exclusive claim, crash recovery by lease."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from pseudoprog.service.jobs import claim, enqueue
from pseudoprog.store import Job, Patient, Store, utcnow
from tests.service.helpers import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    else:
        url = request.getfixturevalue("pg_url")
        s = Store(url)
        with s.engine.begin() as conn:  # each test starts from an empty schema
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        s.upgrade()
    yield s
    s.dispose()


def _patient(store: Store, pid: str = "P1") -> Patient:
    with store.session() as s:
        p = Patient(patient_id=pid, context_yaml="x: 1")
        s.add(p)
        s.flush()
        return p


def test_migration_creates_every_table_and_is_idempotent(store: Store) -> None:
    store.upgrade()  # second upgrade is a no-op
    names = set(sa.inspect(store.engine).get_table_names())
    assert {
        "users",
        "api_tokens",
        "patients",
        "studies",
        "jobs",
        "pushed_objects",
        "assessments",
        "signoffs",
        "outcomes",
        "audit",
        "settings",
        "alembic_version",
    } <= names
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"


def test_enqueue_coalesces_waiting_jobs(store: Store) -> None:
    p = _patient(store)
    with store.session() as s:
        first = enqueue(s, s.get(Patient, p.id), trigger="a")
        second = enqueue(s, s.get(Patient, p.id), trigger="b")
    assert first is not None and second is None


def test_claim_is_exclusive_and_a_dead_workers_job_is_claimed_again(store: Store) -> None:
    p = _patient(store)
    with store.session() as s:
        job = enqueue(s, s.get(Patient, p.id), trigger="t")
        assert job is not None
        job_id = job.id
    assert claim(store, worker="w1", lease_s=60) == job_id
    assert claim(store, worker="w2", lease_s=60) is None  # running under a live lease
    with store.session() as s:  # the worker died: its lease runs out
        s.get(Job, job_id).lease_until = utcnow() - dt.timedelta(seconds=1)
    assert claim(store, worker="w2", lease_s=60) == job_id
    with store.session() as s:
        j = s.get(Job, job_id)
        assert (j.status, j.worker, j.attempts) == ("running", "w2", 2)


def test_backoff_job_is_not_claimed_before_its_time(store: Store) -> None:
    p = _patient(store)
    with store.session() as s:
        s.add(
            Job(
                patient_pk=p.id,
                status="queued",
                trigger="t",
                attempts=1,
                phase="assess",
                not_before=utcnow() + dt.timedelta(seconds=30),
            )
        )
    assert claim(store, worker="w", lease_s=60) is None


def test_migration_matches_the_models(store: Store) -> None:
    """The Alembic revision creates exactly what the SQLAlchemy models declare (no drift between the two)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pseudoprog.store import Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
