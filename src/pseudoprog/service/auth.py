"""Users, password hashing (Argon2id), expiring bearer tokens, roles and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError
from ..store import ApiToken, AuditEvent, Store, User, utcnow
from ..store.models import ROLES

_hasher = PasswordHasher()  # Argon2id with the library's defaults (RFC 9106 low-memory profile)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(store: Store, name: str, *, role: str, password: str) -> User:
    """Create a user (or reset an existing user's role and password)."""
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'", field="--role", expected=" | ".join(ROLES))
    if not name.strip():
        raise InputError("empty user name", field="NAME", expected="a user name")
    if len(password) < 8:
        raise InputError("password shorter than 8 characters", field="password (stdin)", expected="≥ 8 characters")
    with store.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            user = User(name=name, role=role, password_hash=hash_password(password))
            s.add(user)
        else:
            user.role = role
            user.password_hash = hash_password(password)
        audit(s, user="cli", action="user_set", detail=f"{name} role={role}")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: Store, name: str, password: str, *, ttl_s: float) -> tuple[str, User] | None:
    """A fresh bearer token for valid credentials, else None."""
    with store.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            hash_password(password)  # same work either way: no user-name oracle by timing
            return None
        if not verify_password(user.password_hash, password):
            audit(s, user=name, action="login_failed")
            return None
        token = secrets.token_urlsafe(32)
        s.add(
            ApiToken(token_hash=_token_hash(token), user_id=user.id, expires_at=utcnow() + dt.timedelta(seconds=ttl_s))
        )
        audit(s, user=name, action="login")
        return token, user


def user_for_token(session: Session, token: str) -> User | None:
    """The user a token belongs to, or None when it is unknown or expired."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(User, row.user_id)


def audit(session: Session, *, user: str, action: str, patient_id: str | None = None, detail: str = "") -> None:
    """One line of the audit log (who, what, which patient, when); committed with the session."""
    session.add(AuditEvent(user_name=user, action=action, patient_id=patient_id, detail=detail))
