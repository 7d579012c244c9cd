"""Web chat channel: a JSON endpoint that any page (or curl) can talk to; the same dispatcher as every channel."""

from __future__ import annotations

import json
import re
import uuid

from aiohttp import web

from bot.dispatch import Dispatcher
from bot.messages import Incoming, Reply

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def reply_json(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "payload": b.value} for b in reply.buttons],
        "citations": [{"title": c.title, "source": c.source, "year": c.year, "path": c.path}
                      for c in reply.citations],
    }


def routes(dispatcher: Dispatcher) -> list[web.RouteDef]:
    async def chat(request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "请求体不是有效的 JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
            return web.json_response({"error": "需要 JSON 对象，text 为字符串"}, status=400)
        visitor = str(body.get("visitor_id") or "")
        if not VISITOR_ID.match(visitor):
            return web.json_response({"error": "visitor_id 应为 8–64 位字母、数字、- 或 _"}, status=400)
        message_id = str(body.get("message_id") or uuid.uuid4().hex)[:64]
        incoming = Incoming(channel="web", user_id=visitor, chat_id=visitor, text=body.get("text", ""),
                            message_id=message_id, at=dispatcher.services.clock.now(),
                            is_button=bool(body.get("is_button")))
        replies = await dispatcher.handle(incoming)
        return web.json_response({"replies": [reply_json(r) for r in replies]},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    return [web.post("/api/chat", chat)]
