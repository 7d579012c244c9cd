"""Web chat channel: a JSON endpoint that any page (or curl) can talk to; the same dispatcher as every channel.

Also serves the chat page itself (GET /chat, static files in web_static/) and the cited documents
(GET /docs/<path>) so that a citation under an answer can be opened and read on a phone.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import posixpath
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from bot.channels.base import (
    NestedTooDeep,
    client_address,
    from_trusted_proxy,
    parse_json,
    trusted_proxy_set,
)
from bot.crypto import UnavailableSecrets
from bot.messages import Incoming, Reply, payload_to_reply
from bot.ratelimit import address_key
from bot.services import Services
from knowledge import Document
from knowledge.ingest import Source

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "web_static"
# Only our own files may run or load on these pages; document text is escaped, this is the second fence.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def reply_json(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "payload": b.value} for b in reply.buttons],
        "citations": [{"title": c.title, "source": c.source, "year": c.year, "path": c.path} for c in reply.citations],
    }


SESSION_COOKIE = "shegong_session"
# A cookie older than this is sent again with a fresh date, so an identity in use does not lapse.
REFRESH_AFTER_SECONDS = 24 * 3600
TOO_MANY_VISITORS = "从这个网络开始的新对话太多了，请过一会儿再试；急事请拨打 12345 政务服务热线。"
NO_KEY = "网页聊天暂时不可用：服务器还没有配置密钥（SHEGONG_SECRET_KEY），请联系管理员。"


@dataclass(frozen=True, slots=True)
class Session:
    identity: str
    issued: int  # Unix time the cookie was signed
    new: bool  # issued with this response


class WebSessions:
    """Web identities: server-issued random names in a signed, HttpOnly, SameSite=Lax cookie. Nothing the
    page sends in a URL or body names the visitor, so knowing someone's identity string (from a log, a
    shared link) does not let anyone act as them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.max_age = settings.web_session_days * 86400
        self.trusted = trusted_proxy_set(settings.trusted_proxies)

    @property
    def available(self) -> bool:
        """Sessions are signed with the secret key; a shared database without one has none to sign with."""
        return not isinstance(self.services.store.secrets, UnavailableSecrets)

    def now(self) -> int:
        return int(self.services.clock.now().timestamp())

    def current(self, request: web.Request) -> Session | None:
        """The session the request's cookie proves, or None (absent, forged, altered or lapsed)."""
        value = request.cookies.get(SESSION_COOKIE, "")
        found = self.services.store.secrets.verify_session(value) if value else None
        if found is None:
            return None
        identity, issued = found
        if not 0 <= self.now() - issued <= self.max_age:
            return None
        return Session(identity, issued, new=False)

    async def may_issue(self, address: str) -> bool:
        """Whether this client address may get another identity this hour (counted across processes)."""
        key = address_key("web:new", address)
        if (await self.services.store.recent_events([key], timedelta(hours=1)))[
            key
        ] >= self.services.settings.web_new_identities_per_hour:
            return False
        await self.services.store.note_event([key])
        return True

    def issue(self) -> Session:
        return Session("s-" + secrets.token_urlsafe(18), self.now(), new=True)

    def secure(self, request: web.Request) -> bool:
        if self.services.settings.web_cookie_secure or request.secure:
            return True
        return (
            from_trusted_proxy(request, self.trusted)
            and request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
        )

    def keep(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        """Set (or refresh) the cookie on the response when it is new or getting old."""
        if not session.new and self.now() - session.issued < REFRESH_AFTER_SECONDS:
            return
        value = self.services.store.secrets.sign_session(session.identity, self.now())
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=self.max_age,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.secure(request),
        )

    def client_address(self, request: web.Request) -> str:
        return client_address(request, self.trusted)


def routes(services: Services) -> list[web.AbstractRouteDef]:
    assert services.dispatcher is not None
    dispatcher = services.dispatcher
    sessions = WebSessions(services)

    async def chat(request: web.Request) -> web.Response:
        try:
            body = parse_json(await request.read())
        except NestedTooDeep as exc:
            log.warning("web chat request refused: %s", exc)
            return web.json_response({"error": "请求体嵌套层数过多"}, status=400)
        except ValueError:  # malformed JSON or not UTF-8
            return web.json_response({"error": "请求体不是有效的 JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
            return web.json_response({"error": "需要 JSON 对象，text 为字符串"}, status=400)
        if not sessions.available:
            log.error("web chat unavailable: no secret key configured")
            return web.json_response({"error": NO_KEY}, status=503)
        session = sessions.current(request)
        if session is None:
            address = sessions.client_address(request)
            if not await sessions.may_issue(address):
                log.warning("new web identities over the limit for one client address")
                return web.json_response({"error": TOO_MANY_VISITORS}, status=429)
            session = sessions.issue()
        # The page's message id only deduplicates this visitor's own retries: scoped to the identity, one
        # visitor cannot make another's message look like a redelivery.
        client_message_id = str(body.get("message_id") or uuid.uuid4().hex)[:64]
        incoming = Incoming(
            channel="web",
            user_id=session.identity,
            chat_id=session.identity,
            text=body.get("text", ""),
            message_id=f"{session.identity}:{client_message_id}",
            at=services.clock.now(),
            is_button=bool(body.get("is_button")),
            client_address=sessions.client_address(request),
        )
        replies = await dispatcher.handle(incoming)
        response = web.json_response(
            {"replies": [reply_json(r) for r in replies]}, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )
        sessions.keep(request, response, session)
        return response

    async def updates(request: web.Request) -> web.Response:
        # Messages pushed to this visitor (a social worker's replies during 转人工): the page polls for them
        # with its cookie. Without a valid one there is nobody to deliver to, and no identity is made.
        if not sessions.available:
            return web.json_response({"error": NO_KEY}, status=503)
        session = sessions.current(request)
        pushed = await services.store.take_pushed("web", session.identity) if session is not None else []
        return web.json_response(
            {"replies": [reply_json(payload_to_reply(p)) for p in pushed]},
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    chat_page = _chat_html()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=chat_page, content_type="text/html", headers=PAGE_HEADERS)

    async def document(request: web.Request) -> web.Response:
        # Looked up among the loaded documents only: the URL never becomes a file-system path.
        path = request.match_info["path"]
        kb = services.knowledge.current()
        doc = kb.document(path)
        if doc is not None and doc.path != path:
            # A renamed document keeps its old address: answers already sent link to it.
            raise web.HTTPMovedPermanently(f"/docs/{quote(doc.path)}", headers=PAGE_HEADERS)
        if doc is None:
            return web.Response(
                text=_page("找不到文档", "<h1>找不到这份文档</h1><p>文档可能已被删除或更新。请返回对话重新提问。</p>"),
                status=404,
                content_type="text/html",
                headers=PAGE_HEADERS,
            )
        return web.Response(text=_document_html(doc), content_type="text/html", headers=PAGE_HEADERS)

    routes: list[web.AbstractRouteDef] = [
        web.post("/api/chat", chat),
        web.get("/api/chat/updates", updates),
        web.get("/chat", page),
        web.get("/docs/{path:.+}", document),
        web.static("/chat/static", STATIC_DIR),
    ]
    return routes


def _chat_html() -> str:
    """chat.html with a content hash on its asset URLs: WeChat's browser caches hard, a new hash refetches."""
    digest = hashlib.sha256()
    for name in ("chat.css", "chat.js"):
        digest.update((STATIC_DIR / name).read_bytes())
    return (STATIC_DIR / "chat.html").read_text(encoding="utf-8").replace("{{version}}", digest.hexdigest()[:10])


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f'<title>{html.escape(title)} - 社工助手</title><link rel="stylesheet" href="/chat/static/chat.css">'
        '</head><body class="doc-page"><nav class="doc-nav"><a href="/chat">← 返回对话</a></nav>'
        f'<main class="doc">{content}</main></body></html>'
    )


def _document_html(doc: Document) -> str:
    # A document with a `sources:` list shows it in full below the text; older ones keep their one-line source.
    credit = () if doc.sources else (doc.source, f"{doc.year}年" if doc.year else "")
    meta = " · ".join(html.escape(x) for x in (*credit, doc.region) if x)
    return _page(
        doc.title,
        f"<h1>{html.escape(doc.title)}</h1>"
        + (f'<p class="doc-meta">{meta}</p>' if meta else "")
        + _markdown_html(doc.body, doc.path)
        + _provenance_html(doc)
        + '<p class="doc-note">具体标准和办理要求以当地民政部门最新公布为准。</p>',
    )


def _provenance_html(doc: Document) -> str:
    """The texts the document relies on (linked where an official page exists) and when it was last checked."""
    parts = []
    if doc.sources:
        parts.append('<h2>来源</h2><ul class="doc-sources">' + "".join(map(_source_html, doc.sources)) + "</ul>")
    if doc.reviewed is not None:
        day = doc.reviewed
        parts.append(f'<p class="doc-reviewed">最近核对：{day.year}年{day.month}月{day.day}日</p>')
    return "".join(parts)


def _source_html(source: Source) -> str:
    title = html.escape(source.cited_title())
    if source.url:  # only http(s) addresses reach here (ingest drops the rest)
        title = f'<a href="{html.escape(source.url, quote=True)}" rel="noopener noreferrer">{title}</a>'
    details = "，".join(html.escape(x) for x in (source.issuer, source.number, _date_zh(source.date)) if x)
    if source.unconfirmed:  # the reader must see what nobody could check against an official text
        note = f'<span class="doc-unconfirmed">{html.escape(source.unconfirmed)}</span>'
        details = f"{details}；{note}" if details else note
    return f"<li>{title}{f'（{details}）' if details else ''}</li>"


def _date_zh(value: str) -> str:
    """2026-04-30 → 2026年4月30日; 2026-03 → 2026年3月; anything else as written."""
    if m := re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", value):
        year, month, day = m.groups()
        return f"{year}年" + (f"{int(month)}月" if month else "") + (f"{int(day)}日" if day else "")
    return value


BULLET = re.compile(r"^\s*[-*·•]\s+")
LINK = re.compile(r"\[([^\]\n]+)\]\(\s*([^)\s]+)\s*\)")


def _markdown_html(body: str, path: str = "") -> str:
    """The Markdown subset document bodies keep after ingestion: headings, bullet lists, paragraphs, links;
    escaped. Numbered lines stay paragraphs with their own numbers, which a list element would renumber."""
    out: list[str] = []
    in_list = False
    for line in body.splitlines():
        bullet = BULLET.match(line)
        if bool(bullet) != in_list:
            out.append("<ul>" if bullet else "</ul>")
            in_list = bool(bullet)
        stripped = line.strip()
        if bullet:
            out.append(f"<li>{_inline_html(line[bullet.end() :], path)}</li>")
        elif heading := re.match(r"^(#{1,6})\s*(.*)$", stripped):
            level = min(len(heading.group(1)) + 1, 4)  # the page title is the only <h1>
            out.append(f"<h{level}>{html.escape(heading.group(2))}</h{level}>")
        elif stripped:
            out.append(f"<p>{_inline_html(stripped, path)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def _inline_html(text: str, path: str) -> str:
    """Escaped text whose Markdown links become links when they lead to a web page or another document."""
    out: list[str] = []
    end = 0
    for m in LINK.finditer(text):
        href = _link_target(m.group(2), path)
        if href is None:
            continue  # left as the text it is
        out.append(html.escape(text[end : m.start()]))
        out.append(f'<a href="{html.escape(href, quote=True)}">{html.escape(m.group(1))}</a>')
        end = m.end()
    out.append(html.escape(text[end:]))
    return "".join(out)


def _link_target(target: str, path: str) -> str | None:
    if re.match(r"https?://[^\s\"'<>]+$", target) or re.match(r"/docs/[^\s\"'<>]+$", target):
        return target
    if target.lower().split("#", 1)[0].endswith(".md") and ":" not in target and not target.startswith("/"):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return None if resolved.startswith("..") else f"/docs/{quote(resolved, safe='/#')}"
    return None
