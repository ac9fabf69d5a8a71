"""Messages to the feedback team: WeCom group robot, WeChat template message, e-mail.

Escalations and digests only *queue* deliveries (one row per channel and target, in the
same transaction that fired them); the deliver_notifications job sends them with retries.
A staff alert whose sender died mid-send is sent again: for the team a rare duplicate is
better than a lost breach alert (customer notices choose the opposite, services/notices.py).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from models import NotificationDelivery, OutboxStatus
from services.outbox import DispatchStats, backoff, dispatch

if TYPE_CHECKING:
    from services.runtime import Runtime

ROLES = ("team", "team_lead", "branch_manager")
CHANNELS = ("robot", "openids", "emails")
_CHANNEL_OF = {"robot": "robot", "openids": "template", "emails": "email"}

STALE_SENDING = {"status": OutboxStatus.PENDING.value, "claim_token": None, "claimed_at": None,
                 "last_error": "发送过程中程序中断，重新发送"}


@dataclass(frozen=True)
class Target:
    channel: str  # robot | template | email
    address: str


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def recipients(cfg: Any, *, team: str | None, role: str, branch_code: str | None = None) -> list[Target]:
    """Who gets a message for `role`: the branch's entry, else the team's, else `default`."""
    section = cfg.section("notifications")
    by_team = section.get("recipients") or {}
    by_branch = section.get("branches") or {}
    candidates = [
        (by_branch.get(branch_code) or {}).get(role) if branch_code else None,
        (by_team.get(team) or {}).get(role) if team else None,
        (by_team.get("default") or {}).get(role),
    ]
    entry: Mapping[str, Any] = next((c for c in candidates if c), {})
    targets: list[Target] = []
    for key in CHANNELS:
        for address in _as_list(entry.get(key)):
            target = Target(_CHANNEL_OF[key], address)
            if target not in targets:
                targets.append(target)
    return targets


def enqueue(
    session: Session,
    *,
    cfg: Any,
    kind: str,
    team: str | None,
    role: str,
    subject: str,
    body: str,
    now: datetime,
    branch_code: str | None = None,
    escalation_id: int | None = None,
    digest_id: int | None = None,
    targets: list[Target] | None = None,
) -> list[NotificationDelivery]:
    """Queue one delivery per target of `role` (in the caller's transaction); `targets` if already known."""
    if targets is None:
        targets = recipients(cfg, team=team, role=role, branch_code=branch_code)
    rows = [
        NotificationDelivery(
            kind=kind, escalation_id=escalation_id, digest_id=digest_id, team=team, channel=t.channel,
            target=t.address, subject=subject[:255], body=body, status=OutboxStatus.PENDING.value, attempts=0,
            next_attempt_at=now, created_at=now,
        )
        for t in targets
    ]
    session.add_all(rows)
    return rows


# -- sending ---------------------------------------------------------------------------


class Mailer(Protocol):
    def send(self, *, to: str, subject: str, body: str) -> None: ...


class MailError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpMailer:
    """Plain smtplib against the configured relay (notifications.smtp)."""

    host: str
    port: int
    sender: str
    security: str = "none"
    timeout: float = 10.0
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> SmtpMailer:
        smtp = cfg.section("notifications").get("smtp") or {}
        security = str(smtp.get("security", "none")).lower()
        if security not in ("none", "starttls", "ssl"):
            raise ValueError("notifications.smtp.security must be none, starttls or ssl")
        return cls(
            host=str(smtp.get("host", "127.0.0.1")),
            port=int(smtp.get("port", 25)),
            sender=str(smtp.get("sender", "qianjia-feedback@localhost")),
            security=security,
            timeout=float(smtp.get("timeout_seconds", 10)),
            username=str(smtp["username"]) if smtp.get("username") else None,
            password=str(smtp["password"]) if smtp.get("password") else None,
        )

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            client: smtplib.SMTP
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(f"收件人被拒绝：{exc.recipients}", permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"无法连接邮件服务器：{type(exc).__name__}: {exc}", permanent=False) from exc


@dataclass(frozen=True)
class NotificationSettings:
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    claim_timeout: timedelta
    staff_template_id: str

    @classmethod
    def from_config(cls, cfg: Any) -> NotificationSettings:
        section = cfg.section("notifications")
        return cls(
            max_attempts=max(1, int(section.get("max_attempts", 8))),
            retry_base_seconds=float(section.get("retry_base_seconds", 60)),
            retry_max_seconds=float(section.get("retry_max_seconds", 3600)),
            claim_timeout=timedelta(seconds=float(section.get("claim_timeout_seconds", 300))),
            staff_template_id=str(section.get("staff_template_id") or ""),
        )


class _Failure(Exception):
    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass
class _StaffSender:
    runtime: Runtime
    mailer: Mailer
    settings: NotificationSettings

    def _send(self, row: NotificationDelivery, now: datetime) -> None:
        from bot.wechat_api import WeChatAPIError

        try:
            if row.channel == "robot":
                self.runtime.wechat_api.robot_send(webhook_url=row.target, content=f"**{row.subject}**\n{row.body}")
            elif row.channel == "template":
                if not self.settings.staff_template_id:
                    raise _Failure("未配置员工提醒模板 notifications.staff_template_id", permanent=True)
                self.runtime.wechat_api.send_template(
                    openid=row.target, template_id=self.settings.staff_template_id,
                    data={"first": row.subject, "keyword1": row.team or "—",
                          "keyword2": now.astimezone(self.runtime.tz).strftime("%Y-%m-%d %H:%M"),
                          "remark": row.body},
                )
            elif row.channel == "email":
                self.mailer.send(to=row.target, subject=row.subject, body=row.body)
            else:
                raise _Failure(f"未知的通知渠道 {row.channel}", permanent=True)
        except WeChatAPIError as exc:
            raise _Failure(str(exc), permanent=exc.permanent, retry_after=exc.retry_after_seconds) from exc
        except MailError as exc:
            raise _Failure(str(exc), permanent=exc.permanent) from exc
        except ValueError as exc:  # e.g. a malformed robot URL in the configuration
            raise _Failure(str(exc), permanent=True) from exc

    def prepare(self, session: Session, row: NotificationDelivery, now: datetime) -> None:
        return None

    def send(self, session: Session, row: NotificationDelivery, prepared: None, now: datetime) -> str:
        try:
            self._send(row, now)
        except _Failure as failure:
            row.last_error = str(failure)[:500]
            if failure.permanent or row.attempts >= self.settings.max_attempts:
                row.status = OutboxStatus.FAILED.value
            else:
                row.status, row.claim_token, row.claimed_at = OutboxStatus.PENDING.value, None, None
                row.next_attempt_at = now + backoff(
                    attempts=row.attempts, base_seconds=self.settings.retry_base_seconds,
                    max_seconds=self.settings.retry_max_seconds, hint_seconds=failure.retry_after,
                )
            return row.status
        row.status, row.sent_at, row.last_error = OutboxStatus.SENT.value, now, None
        return row.status


def deliver_notifications(*, runtime: Runtime, mailer: Mailer | None = None,
                          max_rows: int | None = None) -> DispatchStats:
    """Send due staff notifications, retrying failures with back-off."""
    settings = NotificationSettings.from_config(runtime.cfg)
    return dispatch(
        sessions=runtime.sessions,
        model=NotificationDelivery,
        clock=runtime.clock,
        handle=_StaffSender(runtime, mailer or SmtpMailer.from_config(runtime.cfg), settings),
        batch_size=100,
        claim_timeout=settings.claim_timeout,
        stale_sending_values=STALE_SENDING,
        max_rows=max_rows,
    )

