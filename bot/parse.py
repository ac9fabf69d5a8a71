"""WeChat XML → our Inbound dataclass."""

from __future__ import annotations

from datetime import datetime
from xml.parsers.expat import ExpatError

import xmltodict

from bot.security import WebhookError
from handlers.types import Inbound

_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


def parse_xml_fields(xml: str | bytes) -> dict[str, str]:
    """Parse a flat WeChat XML document into a dict; refuse anything malformed."""
    try:
        # xmltodict refuses entity expansion by default; DTDs were already refused upstream.
        doc = xmltodict.parse(xml, disable_entities=True)
    except (ExpatError, ValueError) as exc:
        raise WebhookError(400, f"malformed XML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise WebhookError(400, "malformed XML: the root element must be <xml>")
    fields: dict[str, str] = {}
    for key, value in doc["xml"].items():
        if isinstance(value, (dict, list)):
            # WeChat sends flat documents (a few events nest, e.g. SendLocationInfo); keep text only.
            continue
        fields[str(key)] = "" if value is None else str(value)
    return fields


def to_inbound(fields: dict[str, str], *, received_at: datetime) -> Inbound:
    """Map parsed fields to an Inbound; a missing required field is a 400."""
    missing = [name for name in _REQUIRED if not fields.get(name)]
    if missing:
        raise WebhookError(400, f"malformed message: missing {', '.join(missing)}")
    try:
        create_time = int(fields["CreateTime"])
    except ValueError:
        raise WebhookError(400, "malformed message: CreateTime is not an integer") from None
    msg_type = fields["MsgType"].strip().lower()
    content: str | None = fields.get("Content")
    if msg_type == "voice":
        content = fields.get("Recognition") or None
    location = None
    label = fields.get("Label") or fields.get("Title")
    if msg_type == "location":
        try:
            location = (float(fields["Location_X"]), float(fields["Location_Y"]))
        except (KeyError, ValueError):
            raise WebhookError(400, "malformed location message") from None
    event = fields.get("Event")
    event_key = fields.get("EventKey")
    if msg_type == "event" and (event or "").lower() == "location":
        try:
            location = (float(fields["Latitude"]), float(fields["Longitude"]))
        except (KeyError, ValueError):
            location = None
    return Inbound(
        openid=fields["FromUserName"],
        account=fields["ToUserName"],
        msg_type=msg_type,
        create_time=create_time,
        received_at=received_at,
        msg_id=fields.get("MsgId") or fields.get("MsgID") or None,
        content=content,
        event=event,
        event_key=event_key,
        media_id=fields.get("MediaId") or None,
        pic_url=fields.get("PicUrl") or None,
        location=location,
        label=label,
        raw=fields,
    )
