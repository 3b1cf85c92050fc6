"""The FastAPI application: token login, worklist, patient JSON, context, sign-off, outcome, files; the web page.

Every route but ``/api/health`` needs a bearer token; readers view and sign, admins also manage context and users.
Every view, sign-off and context change is written to the audit log. Application logs carry job and row ids, never
patient identifiers.
"""

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import desc, func, select

from ..errors import InputError
from ..store import AssessmentRecord, Job, Outcome, Patient, SignOff, Store, Study, User
from .auth import add_user, audit, issue_token, user_for_token
from .context import context_text, parse_context
from .follower import PACS_STATUS
from .jobs import enqueue, get_setting
from .settings import ServiceSettings

WEB_DIR = Path(__file__).resolve().parents[3] / "web"  # the source tree's web/ (built with `make web`)
_bearer = HTTPBearer(auto_error=False)


class SignOffIn(BaseModel):
    agree: bool
    comment: str = Field(default="", max_length=4000)


class OutcomeIn(BaseModel):
    source: str = Field(pattern="^(histology|follow_up)$")
    result: str = Field(pattern="^(progression|treatment_effect)$")
    date: dt.date
    comment: str = Field(default="", max_length=4000)


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(pattern="^(reader|admin)$")
    password: str = Field(min_length=8)


def _job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "reason": job.reason,
        "trigger": job.trigger,
        "attempts": job.attempts,
        "phase": job.phase,
        "created_at": job.created_at.isoformat() + "Z",
        "finished_at": job.finished_at.isoformat() + "Z" if job.finished_at else None,
    }


def create_app(settings: ServiceSettings, *, store: Store | None = None) -> FastAPI:
    """The app for one store; ``serve`` adds the follower and workers around it."""
    store = store or Store(settings.url)
    app = FastAPI(title="pseudoprog reading room", docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.settings = settings

    def current_user(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not authenticated", {"WWW-Authenticate": "Bearer"})
        with store.session() as s:
            user = user_for_token(s, creds.credentials)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid or expired token", {"WWW-Authenticate": "Bearer"}
            )
        return user

    def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "needs the admin role")
        return user

    Reader = Annotated[User, Depends(current_user)]
    Admin = Annotated[User, Depends(admin_user)]

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": str(exc), "file": exc.file, "field": exc.field, "expected": exc.expected},
        )

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "pacs": get_setting(store, PACS_STATUS) if settings.orthanc_url else "not configured"}

    @app.post("/api/token")
    def token(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, Any]:
        issued = issue_token(store, username, password, ttl_s=settings.token_ttl_s)
        if issued is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "wrong user name or password", {"WWW-Authenticate": "Bearer"}
            )
        value, user = issued
        return {
            "access_token": value,
            "token_type": "bearer",
            "expires_in": int(settings.token_ttl_s),
            "role": user.role,
        }

    @app.get("/api/me")
    def me(user: Reader) -> dict[str, Any]:
        return {"name": user.name, "role": user.role}

    @app.post("/api/users", status_code=201)
    def create_user(body: UserIn, user: Admin) -> dict[str, Any]:
        created = add_user(store, body.name, role=body.role, password=body.password)
        with store.session() as s:
            audit(s, user=user.name, action="user_set", detail=f"{created.name} role={created.role}")
        return {"name": created.name, "role": created.role}

    @app.get("/api/worklist")
    def worklist(user: Reader) -> dict[str, Any]:
        rows = []
        with store.session() as s:
            for p in s.scalars(select(Patient).order_by(Patient.patient_id)):
                latest_scan = s.scalar(select(func.max(Study.study_date)).where(Study.patient_pk == p.id))
                job = s.scalar(select(Job).where(Job.patient_pk == p.id).order_by(desc(Job.id)).limit(1))
                a = s.scalar(
                    select(AssessmentRecord)
                    .where(AssessmentRecord.patient_pk == p.id)
                    .order_by(desc(AssessmentRecord.id))
                    .limit(1)
                )
                signed = a is not None and s.scalar(select(SignOff.id).where(SignOff.assessment_id == a.id).limit(1))
                rows.append(
                    {
                        "patient_id": p.patient_id,
                        "latest_scan": (latest_scan or (a.latest_date if a else None)),
                        "status": job.status
                        if job
                        else (
                            "assessed" if a else "waiting for context" if not p.context_yaml else "waiting for studies"
                        ),
                        "reason": job.reason if job else None,
                        "probability": a.probability if a else None,
                        "interval": [a.interval_low, a.interval_high] if a else None,
                        "criteria_call": a.criteria_call if a else None,
                        "signed_off": bool(signed),
                        "has_context": p.context_yaml is not None,
                    }
                )
            audit(s, user=user.name, action="view_worklist")
        return {"patients": rows, "pacs": get_setting(store, PACS_STATUS) if settings.orthanc_url else None}

    def _patient(s: Any, patient_id: str) -> Patient:
        p = s.scalar(select(Patient).where(Patient.patient_id == patient_id))
        if p is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown patient")
        return p

    def _latest(s: Any, p: Patient) -> AssessmentRecord | None:
        return s.scalar(
            select(AssessmentRecord)
            .where(AssessmentRecord.patient_pk == p.id)
            .order_by(desc(AssessmentRecord.id))
            .limit(1)
        )

    @app.get("/api/patients/{patient_id}")
    def patient(patient_id: str, user: Reader) -> dict[str, Any]:
        with store.session() as s:
            p = _patient(s, patient_id)
            studies = s.scalars(select(Study).where(Study.patient_pk == p.id).order_by(Study.study_date)).all()
            by_date: dict[str, list[str]] = {}
            for st in studies:
                by_date.setdefault(st.study_date.isoformat() if st.study_date else "undated", []).append(st.study_uid)
            jobs = s.scalars(select(Job).where(Job.patient_pk == p.id).order_by(desc(Job.id))).all()
            a = _latest(s, p)
            signoffs = []
            if a is not None:
                for so, u in s.execute(
                    select(SignOff, User)
                    .join(User, User.id == SignOff.user_id)
                    .where(SignOff.assessment_id == a.id)
                    .order_by(SignOff.id)
                ):
                    signoffs.append(
                        {"user": u.name, "agree": so.agree, "comment": so.comment, "at": so.at.isoformat() + "Z"}
                    )
            outcomes = [
                {
                    "source": o.source,
                    "result": o.result,
                    "date": o.date.isoformat(),
                    "comment": o.comment,
                    "user": u.name,
                }
                for o, u in s.execute(
                    select(Outcome, User)
                    .join(User, User.id == Outcome.user_id)
                    .where(Outcome.patient_pk == p.id)
                    .order_by(Outcome.id)
                )
            ]
            viewer: dict[str, Any] = {}
            if a is not None:
                index = Path(a.result_dir) / "viewer" / "index.json"
                if index.exists():
                    viewer = json.loads(index.read_text(encoding="utf-8"))
            audit(s, user=user.name, action="view_patient", patient_id=patient_id)
            return {
                "patient_id": p.patient_id,
                "timepoints": [{"date": d, "studies": uids} for d, uids in by_date.items()],
                "jobs": [_job_json(j) for j in jobs],
                "assessment": json.loads(a.assessment_json) if a else None,
                "assessment_id": a.id if a else None,
                "viewer": viewer,
                "signoffs": signoffs,
                "outcomes": outcomes,
                "context_yaml": p.context_yaml,
                "pacs": get_setting(store, PACS_STATUS) if settings.orthanc_url else None,
            }

    @app.put("/api/patients/{patient_id}/context")
    async def put_context(patient_id: str, request: Request, user: Admin) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/yaml", "application/x-yaml", "text/yaml"):
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the context as application/yaml")
        body = (await request.body()).decode("utf-8", errors="replace")
        data = parse_context(body)
        with store.session() as s:
            p = s.scalar(select(Patient).where(Patient.patient_id == patient_id))
            if p is None:
                p = Patient(patient_id=patient_id)
                s.add(p)
                s.flush()
            p.context_yaml = context_text(data)
            p.context_updated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            job = None
            has_study = s.scalar(select(Study.id).where(Study.patient_pk == p.id).limit(1)) is not None
            if has_study and settings.orthanc_url:
                job = enqueue(s, p, trigger="context changed")
            audit(
                s,
                user=user.name,
                action="context_set",
                patient_id=patient_id,
                detail=f"{len(body)} bytes; job {job.id if job else '-'}",
            )
            return {"patient_id": patient_id, "job": _job_json(job) if job else None}

    @app.post("/api/patients/{patient_id}/signoff", status_code=201)
    def signoff(patient_id: str, body: SignOffIn, user: Reader) -> dict[str, Any]:
        with store.session() as s:
            p = _patient(s, patient_id)
            a = _latest(s, p)
            if a is None:
                raise HTTPException(status.HTTP_409_CONFLICT, "no assessment to sign off yet")
            s.add(SignOff(assessment_id=a.id, user_id=user.id, agree=body.agree, comment=body.comment))
            audit(
                s,
                user=user.name,
                action="signoff",
                patient_id=patient_id,
                detail=f"assessment {a.id}: {'agree' if body.agree else 'disagree'}",
            )
            return {"assessment_id": a.id, "agree": body.agree}

    @app.post("/api/patients/{patient_id}/outcome", status_code=201)
    def outcome(patient_id: str, body: OutcomeIn, user: Reader) -> dict[str, Any]:
        with store.session() as s:
            p = _patient(s, patient_id)
            a = _latest(s, p)
            s.add(
                Outcome(
                    patient_pk=p.id,
                    assessment_id=a.id if a else None,
                    user_id=user.id,
                    source=body.source,
                    result=body.result,
                    date=body.date,
                    comment=body.comment,
                )
            )
            audit(
                s,
                user=user.name,
                action="outcome",
                patient_id=patient_id,
                detail=f"{body.source}: {body.result} on {body.date}",
            )
            return {"patient_id": patient_id, "result": body.result}

    @app.get("/api/patients/{patient_id}/files/{path:path}")
    def files(patient_id: str, path: str, user: Reader) -> FileResponse:
        with store.session() as s:
            a = _latest(s, _patient(s, patient_id))
            if a is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no assessment")
            root = Path(a.result_dir).resolve()
            target = (root / path).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
            if path.endswith((".pdf", ".html")):
                audit(s, user=user.name, action="view_report", patient_id=patient_id, detail=path)
        return FileResponse(target)

    @app.get("/api/patients/{patient_id}/export")
    def export(patient_id: str, user: Reader) -> Response:
        """The latest assessment's output folder as a ZIP, de-identified unless the deployment says otherwise."""
        from .export import deployment_deidentifier, export_zip

        with store.session() as s:
            a = _latest(s, _patient(s, patient_id))
            if a is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no assessment")
            result_dir = Path(a.result_dir)
            mode = f"de-identified, dates {settings.export_dates}" if settings.export_deidentified else "identified"
            audit(s, user=user.name, action="export", patient_id=patient_id, detail=mode)
        deid = deployment_deidentifier(store, settings.export_dates) if settings.export_deidentified else None
        body, name = export_zip(result_dir, deid=deid)
        return Response(
            body, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    web = settings.web_dir or WEB_DIR
    if (web / "dist").is_dir():
        app.mount("/static", StaticFiles(directory=web / "dist"), name="static")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        page = web / "index.html"
        if not page.exists():
            return HTMLResponse("<h1>pseudoprog</h1><p>The reading-room page is not installed (web/).</p>", 500)
        html = page.read_text(encoding="utf-8")
        if not (web / "dist" / "app.js").exists():
            html = html.replace("<!--build-->", "<p class='warn'>Viewer not built: run <code>make web</code>.</p>")
        return HTMLResponse(html)

    return app
