"""Our reply objects → WeChat passive-reply XML (through wechatpy)."""

from __future__ import annotations

from wechatpy import replies as wx

from handlers.types import Inbound, NewsReply, NoReply, Reply, TextReply

SUCCESS = "success"


def render_reply(reply: Reply, inbound: Inbound) -> str:
    """Plaintext reply XML, or `success` for no visible reply."""
    if isinstance(reply, NoReply):
        return SUCCESS
    if isinstance(reply, TextReply):
        return str(wx.TextReply(source=inbound.account, target=inbound.openid, content=reply.content).render())
    if isinstance(reply, NewsReply):
        articles = [
            {"title": a.title, "description": a.description, "image": a.image, "url": a.url}
            for a in reply.articles[:8]
        ]
        return str(wx.ArticlesReply(source=inbound.account, target=inbound.openid, articles=articles).render())
    raise TypeError(f"unknown reply type {type(reply).__name__}")


def reply_text(reply: Reply) -> str:
    """What the customer sees, for the message log."""
    if isinstance(reply, TextReply):
        return reply.content
    if isinstance(reply, NewsReply):
        return "\n".join(a.title for a in reply.articles)
    return ""
