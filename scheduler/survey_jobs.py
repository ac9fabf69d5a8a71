"""Survey jobs (issue 4), registered by scheduler/registry.py. The work lives in services/surveys.py."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.db import transaction
from services import surveys

if TYPE_CHECKING:
    from services.runtime import Runtime


def invite_survey_rounds(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Invite the audience of every running survey round (each customer once per round)."""
    limit = int(runtime.cfg.get("surveys.rounds.batch_size", 200))
    with transaction(runtime.sessions) as session:
        round_ids = [r.id for r in surveys.running_rounds(session, now=now)]
    sent = 0
    for round_id in round_ids:
        with transaction(runtime.sessions) as session:
            sent += surveys.invite_for_round(session, runtime=runtime, round_id=round_id, now=now, limit=limit)
    return {"rounds": len(round_ids), "sent": sent}


def checkin_surveys(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Invite customers to the survey a while after they checked in at a branch."""
    limit = int(runtime.cfg.get("surveys.rounds.batch_size", 200))
    with transaction(runtime.sessions) as session:
        return {"sent": surveys.send_due_checkin_surveys(session, runtime=runtime, now=now, limit=limit)}
