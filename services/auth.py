"""Staff sign-in: argon2id password hashes, throttled logins, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import LoginAttempt, Staff, StaffSession
from services import audit


class LoginRefused(Exception):
    """Wrong username or password (deliberately not saying which), or an inactive account."""


class LoginThrottled(Exception):
    """Too many recent failures; `retry_after` is when the next attempt is accepted."""

    def __init__(self, retry_after: datetime) -> None:
        super().__init__("登录失败次数过多，请稍后再试")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignIn:
    staff: Staff
    token: str  # goes into the (signed, HttpOnly) cookie; only its hash is stored


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def password_hasher(cfg: Any) -> PasswordHasher:
    section = cfg.section("console").get("password_hashing") or {}
    return _hasher(int(section.get("time_cost", 3)), int(section.get("memory_kib", 65536)),
                   int(section.get("parallelism", 4)))


def hash_password(cfg: Any, password: str) -> str:
    return password_hasher(cfg).hash(password)


def verify_password(cfg: Any, password_hash: str, password: str) -> bool:
    try:
        return password_hasher(cfg).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_hex(16))


def _waste_a_verification(cfg: Any, password: str) -> None:
    # An unknown username costs as much as a wrong password, so timing does not reveal accounts.
    hasher = password_hasher(cfg)
    verify_password(cfg, _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism), password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _login_settings(cfg: Any) -> tuple[int, int, timedelta]:
    login = cfg.section("console").get("login") or {}
    return (int(login.get("max_failures_per_user", 5)), int(login.get("max_failures_per_address", 20)),
            timedelta(minutes=float(login.get("window_minutes", 15))))


def check_throttle(session: Session, *, username: str, remote_addr: str, now: datetime, cfg: Any) -> None:
    """Raise LoginThrottled while this username or address has too many recent failures."""
    per_user, per_address, window = _login_settings(cfg)
    since = now - window
    last_success = session.scalar(select(func.max(LoginAttempt.created_at)).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)))
    user_since = max(since, last_success) if last_success else since
    user_failures = session.scalars(
        select(LoginAttempt.created_at)
        .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False),
               LoginAttempt.created_at > user_since)
        .order_by(LoginAttempt.created_at.desc()).limit(per_user)
    ).all()
    if len(user_failures) >= per_user:
        raise LoginThrottled(min(user_failures) + window)
    address_failures = session.scalars(
        select(LoginAttempt.created_at)
        .where(LoginAttempt.remote_addr == remote_addr, LoginAttempt.succeeded.is_(False),
               LoginAttempt.created_at > since)
        .order_by(LoginAttempt.created_at.desc()).limit(per_address)
    ).all()
    if len(address_failures) >= per_address:
        raise LoginThrottled(min(address_failures) + window)


def login(session: Session, *, username: str, password: str, remote_addr: str, now: datetime, cfg: Any) -> SignIn:
    """Check the password and open a session; throttled and audited either way."""
    username = (username or "").strip().lower()[:64]
    remote_addr = (remote_addr or "unknown")[:64]
    check_throttle(session, username=username, remote_addr=remote_addr, now=now, cfg=cfg)
    staff = session.scalars(select(Staff).where(Staff.username == username)).one_or_none() if username else None
    if staff is None:
        _waste_a_verification(cfg, password)
        ok = False
    else:
        ok = verify_password(cfg, staff.password_hash, password) and staff.active
    session.add(LoginAttempt(username=username, remote_addr=remote_addr, succeeded=ok, created_at=now))
    if not ok or staff is None:
        audit.record(session, actor=username or "anonymous", action="staff.login_failed", now=now,
                     target_type="staff", target_id=staff.id if staff else None, data={"remote_addr": remote_addr})
        raise LoginRefused("用户名或密码错误")
    if password_hasher(cfg).check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(cfg, password)
    staff.last_login_at = now
    token = secrets.token_urlsafe(32)
    console = cfg.section("console")
    session.add(StaffSession(
        token_hash=token_hash(token), staff_id=staff.id, remote_addr=remote_addr, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(hours=float(console.get("session_hours", 12))),
    ))
    audit.record(session, actor=staff.username, action="staff.login", now=now, target_type="staff",
                 target_id=staff.id, data={"remote_addr": remote_addr})
    purge_expired(session, now=now, cfg=cfg)
    return SignIn(staff=staff, token=token)


def current_staff(session: Session, *, token: str | None, now: datetime, cfg: Any) -> Staff | None:
    """The staff member signed in with this cookie token, or None (expired, idle, logged out, deactivated)."""
    if not token:
        return None
    row = session.scalars(select(StaffSession).where(StaffSession.token_hash == token_hash(token))).one_or_none()
    if row is None:
        return None
    idle = timedelta(minutes=float(cfg.get("console.idle_minutes", 60)))
    if row.expires_at <= now or row.last_seen_at + idle <= now or not row.staff.active:
        session.delete(row)
        return None
    if now - row.last_seen_at >= timedelta(minutes=1):  # one write a minute, not one per request
        row.last_seen_at = now
    return row.staff


def logout(session: Session, *, token: str | None, now: datetime) -> None:
    if not token:
        return
    row = session.scalars(select(StaffSession).where(StaffSession.token_hash == token_hash(token))).one_or_none()
    if row is None:
        return
    audit.record(session, actor=row.staff.username, action="staff.logout", now=now, target_type="staff",
                 target_id=row.staff_id)
    session.delete(row)


def end_sessions(session: Session, *, staff: Staff) -> int:
    """Sign a staff member out everywhere (password change, deactivation)."""
    result = session.execute(delete(StaffSession).where(StaffSession.staff_id == staff.id))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, *, now: datetime, cfg: Any) -> None:
    """Drop expired sessions and login attempts older than any throttle window still needs."""
    _, _, window = _login_settings(cfg)
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    # Keep a day of attempts for the audit trail beyond the throttle window.
    session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - max(window, timedelta(days=1))))
