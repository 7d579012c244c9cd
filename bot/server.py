"""The aiohttp application behind `shegong serve`: channels, the web chat, health endpoints and metrics."""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot import metrics
from bot.app import FEATURES
from bot.channels import web as web_channel
from bot.channels.base import Channel, DurableChannel
from bot.channels.registry import configured_channels
from bot.features import Feature
from bot.knowledge_service import KnowledgeRefresh
from bot.outbox import OutboxSender
from bot.services import Services

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
# On every response: no page of ours may be framed (clickjacking), sniffed into another type, or tell
# other sites which page linked to them.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
NO_FRAMING = "frame-ancestors 'none'"
# A request that came through a proxy says so; then its loopback address is the proxy's, not the client's.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

SERVICES = web.AppKey("services", Services)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks = {"knowledge_base": services.knowledge.loaded}
    try:
        checks["database"] = await services.store.ping()
    except Exception:
        log.warning("readiness: database unreachable", exc_info=True)
        checks["database"] = False
    return web.json_response({"ready": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)


def is_local_client(request: web.BaseRequest) -> bool:
    """The peer is this machine and no proxy forwarded the request for someone else."""
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:  # a Unix socket, or no peer address at all
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def metrics_text(request: web.Request) -> web.Response:
    token = request.app[SERVICES].settings.metrics_token
    if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                         f"Bearer {token}".encode()):
        return web.Response(status=401, text="metrics need a bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not token and not is_local_client(request):
        return web.Response(status=403, text="metrics are served to this machine only; set SHEGONG_METRICS_TOKEN "
                                             "to let a remote scraper in with a bearer token")
    # Content type carries the exposition-format version, so it is set as a raw header.
    return web.Response(body=metrics.REGISTRY.render().encode(), headers={"Content-Type": metrics.CONTENT_TYPE})


class AccessLog(AbstractAccessLogger):
    """One short line per request: method, path, status, size and time. The query string stays out:
    WeChat puts the sender's openid and one-time signatures there, and neither helps anyone reading logs."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %d", request.method, request.path, response.status, extra={
            "status": response.status, "bytes": response.body_length, "ms": round(time * 1000, 1)})


def app_runner(app: web.Application, shutdown_timeout: float = 10) -> web.AppRunner:
    """The runner for `create_app`'s app: graceful shutdown waits this long for in-flight requests."""
    return web.AppRunner(app, shutdown_timeout=shutdown_timeout, access_log_class=AccessLog)


@web.middleware
async def errors_as_json(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": "请求体超过 1 MB"}, status=413)


async def security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        response.headers["Content-Security-Policy"] = NO_FRAMING
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; {NO_FRAMING}"


def create_app(services: Services, channels: dict[str, Channel] | None = None,
               features: tuple[Feature, ...] = FEATURES) -> web.Application:
    """The HTTP app. `channels` defaults to every platform whose settings are present."""
    assert services.dispatcher is not None
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[errors_as_json])
    app[SERVICES] = services
    app.on_response_prepare.append(security_headers)
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz),
                    web.get("/metrics", metrics_text)])
    app.add_routes(web_channel.routes(services))
    for feature in features:
        for routes in feature.routes:
            app.add_routes(routes(services))
    channels = configured_channels(services) if channels is None else channels
    for channel in channels.values():
        app.add_routes(channel.routes())
    services.outbox = outbox = OutboxSender(services.store, channels,
                                            lease=timedelta(seconds=services.settings.outbox_lease_seconds))

    async def close_channels(app: web.Application) -> AsyncIterator[None]:
        yield
        for channel in channels.values():
            await channel.close()

    app.cleanup_ctx.append(close_channels)  # after the outbox has stopped (cleanup runs in reverse order)
    app.cleanup_ctx.append(outbox.cleanup_context())

    async def run_inbox(app: web.Application) -> AsyncIterator[None]:
        # After the outbox (its replies wake the sender) and stopped before it, which closes the channels:
        # messages being handled finish first. Taken over on start-up: what a dead process acknowledged.
        redo = {name: ch.redo for name, ch in channels.items() if isinstance(ch, DurableChannel)}
        task = asyncio.create_task(services.inbox.run_forever(redo))
        yield
        services.inbox.stop()
        await task

    app.cleanup_ctx.append(run_inbox)
    for feature in features:  # started after the outbox and stopped before it (cleanup runs in reverse order)
        for hook in feature.background:
            app.cleanup_ctx.append(hook(services, channels))

    app.cleanup_ctx.append(KnowledgeRefresh(services.knowledge).cleanup_context(timeout=1))
    app.on_startup.append(freeze_startup_heap)
    return app


async def freeze_startup_heap(app: web.Application) -> None:
    """Move what start-up built (the knowledge base, modules, tables) out of the garbage collector's reach.

    A full collection walks every tracked object; with the knowledge base loaded that stalls the event loop
    for tens of milliseconds, every request in flight included. Frozen objects are never freed, which is
    what long-lived start-up state wants anyway (a reloaded knowledge base is a new, unfrozen object)."""
    gc.collect()
    gc.freeze()
