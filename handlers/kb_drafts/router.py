"""`收录 N` (a worker turns a ticket's question and their answer into a knowledge-base draft) and `发布 M`
(a lead of the same station publishes it: a stored document, answered by the bot from then on)."""

from __future__ import annotations

import hashlib
import logging
import re

from bot.messages import Button, Reply, reply_to_payload
from bot.routing import Context, Regex, Router
from bot.store import StoredDocument, WorkerRecord
from bot.store.handoff_records import DraftRecord
from handlers.common.localtime import local_tz
from handlers.common.roles import IsWorker, actor, private_only
from handlers.directory.store import DirectoryStore
from handlers.kb_drafts.store import KbDraftStore
from handlers.workers.store import WorkersStore

log = logging.getLogger(__name__)
router = Router("kb_drafts", IsWorker(), guard=private_only)

TITLE_CHARS = 60
WHY_NOT = {
    "missing": "本站没有工单 #{n}。",
    "no_answer": "工单 #{n} 还没有社工的回复，先用“回复 {n} 内容”答复居民，再收录。",
    "no_question": "工单 #{n} 的内容已删除（居民要求或超过保存期限），不能收录。",
}


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def draft_document(draft: DraftRecord, station_name: str, city: str, year: str) -> StoredDocument:
    title = _short(re.sub(r"\s+", " ", draft.question).strip(), TITLE_CHARS)
    body = f"# {title}\n\n问：{draft.question.strip()}\n\n{draft.answer.strip()}\n"
    digest = hashlib.sha256(re.sub(r"\s+", "", body).encode()).hexdigest()  # as knowledge.ingest.Document
    return StoredDocument(
        f"stations/{draft.station_id}/answer-{draft.id}.md", title, f"{station_name}社工解答", year, city, body, digest
    )


@router.message(Regex(r"^(?:/kbsave(?:@\w+)?|收录)\s*(?:工单)?\s*#?(\d{1,9})$"))
async def save(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    number, store = int(match.group(1)), ctx.services.store
    leads = sorted(
        {
            ident
            for lead, idents in await WorkersStore.of(store).station_leads(worker.station_id)
            if lead.id != worker.id
            for ident in idents
        }
    )

    def notice(draft_id: int) -> dict:
        return reply_to_payload(
            Reply(
                f"📝 社工{worker.name}把工单 #{number} 的解答整理成了知识库草稿 #{draft_id}，"
                f"请审核：发送“发布 {draft_id}”查看将要公开的全文，确认后居民再问类似问题，机器人会直接回答。"
            )
        )

    outcome = await KbDraftStore.of(store).create_draft(number, worker.id, worker.station_id, notice, leads)
    if isinstance(outcome, str):
        return Reply(WHY_NOT[outcome].format(n=number))
    ctx.services.wake_outbox()
    await store.audit(
        actor(worker), "kb.draft", target=f"ticket:{number}", worker_id=worker.id, detail={"draft": outcome.id}
    )
    who = "您是站长，可以直接发送" if worker.is_lead else "已请站长审核，站长发送"
    return Reply(
        f"已生成知识库草稿 #{outcome.id}：\n问：{_short(outcome.question, 80)}\n答：{_short(outcome.answer, 120)}\n"
        f"{who}“发布 {outcome.id}”后生效。"
    )


async def _publishable(ctx: Context, worker: WorkerRecord, number: int) -> StoredDocument | Reply:
    """The document `发布 M` would store, exactly, or why there is none."""
    store = ctx.services.store
    if not worker.is_lead:
        return Reply("只有站长可以发布知识库草稿。")
    draft = await KbDraftStore.of(store).draft_for_station(number, worker.station_id)
    if draft is None:
        return Reply(f"本站没有知识库草稿 #{number}。")
    if draft.status != "draft":
        return Reply(f"草稿 #{number} 已经发布过了。")
    station = await DirectoryStore.of(store).station_info(worker.station_id)
    kb = ctx.services.knowledge
    city = kb.current().city_in(station.city) if station and station.city else ""
    year = str(ctx.services.clock.now().astimezone(local_tz(ctx)).year)
    return draft_document(draft, worker.station_name, city, year)


@router.message(Regex(r"^(?:/kbpublish(?:@\w+)?|发布)\s*(?:草稿)?\s*#?(\d{1,9})$"))
async def preview(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    """The lead reads exactly what anyone will be able to read before it is published."""
    number = int(match.group(1))
    doc = await _publishable(ctx, worker, number)
    if isinstance(doc, Reply):
        return doc
    return Reply(
        f"草稿 #{number} 发布后，任何人都能在网页上看到下面这段文字（已去掉姓名、身份证号、电话和地址，"
        f"请再检查一遍）：\n————\n{doc.body.strip()}\n————\n"
        f"确认无误请发送“确认发布 {number}”；内容不合适就不要发布，草稿会在保存期限后自动删除。",
        buttons=[Button(f"确认发布 {number}")],
    )


@router.message(Regex(r"^(?:/kbconfirm(?:@\w+)?|确认发布)\s*(?:草稿)?\s*#?(\d{1,9})$"))
async def publish(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    number, store = int(match.group(1)), ctx.services.store
    doc = await _publishable(ctx, worker, number)
    if isinstance(doc, Reply):
        return doc
    await store.save_document(doc)
    if not await KbDraftStore.of(store).mark_draft_published(number, worker.id, doc.path):
        return Reply(f"草稿 #{number} 已经发布过了。")
    kb = ctx.services.knowledge
    await kb.load()  # this process now; the others within a refresh interval (they compare revisions)
    await store.audit(
        actor(worker), "kb.publish", target=f"draft:{number}", worker_id=worker.id, detail={"path": doc.path}
    )
    log.info("kb draft published", extra={"draft_id": number, "worker_id": worker.id})
    return Reply(f"已发布到知识库：《{doc.title}》。居民再问类似问题，机器人会直接回答并注明“{doc.source}”。")
