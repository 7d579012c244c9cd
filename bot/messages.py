"""The platform-neutral message model: every channel translates to and from these types."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Literal

AttachmentKind = Literal["image", "voice", "location", "file"]

# Control characters other than newline and tab (C0, DEL, C1) and UTF-16 surrogates. A str holding a
# surrogate got it unpaired (JSON "\ud800", a bad decode); NUL breaks PostgreSQL text and JSON columns.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as it may enter the bot: unsafe control characters and lone surrogates removed."""
    return _UNSAFE_CHARS.sub("", text) if _UNSAFE_CHARS.search(text) else text


def _clean_fields(item: object, names: tuple[str, ...]) -> None:
    # Frozen dataclasses: the cleaned value replaces the given one once, at construction.
    for name in names:
        value = getattr(item, name)
        if (cleaned := clean_text(value)) is not value:
            object.__setattr__(item, name, cleaned)


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: AttachmentKind
    url: str = ""  # platform media URL or id
    latitude: float | None = None
    longitude: float | None = None
    label: str = ""  # e.g. a location's name

    def __post_init__(self) -> None:
        _clean_fields(self, ("url", "label"))


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message from a person, as every feature sees it."""

    channel: str  # "telegram", "wechat", "wecom", "web", "console"
    user_id: str  # the platform's id for the sender
    chat_id: str  # where replies go (equal to user_id in private chats)
    text: str
    message_id: str  # the platform's id, used for deduplication
    at: datetime
    attachments: tuple[Attachment, ...] = ()
    # A button press carries the button's payload as text and sets this flag.
    is_button: bool = False
    # A system event such as "subscribe"; text is then empty.
    event: str = ""
    # A group chat (Telegram group/supergroup, WeCom group): everyone in it reads the replies.
    group_chat: bool = False
    # False when the platform does not authenticate the message body (WeChat plaintext mode signs only
    # the URL), so the sender may be forged: such a message gets public answers only (bot/trust.py).
    sender_verified: bool = True
    # Already claimed and stored by durable intake (bot/inbox.py): the intake middleware must not claim its
    # id again, or a message taken over after a crash would be dropped as its own redelivery.
    accepted: bool = False
    # The network address the person sent from, where the channel sees it (the web chat; a platform's
    # webhook comes from the platform): rate limits per client address count it.
    client_address: str = ""

    def __post_init__(self) -> None:
        # Every channel builds an Incoming, so this is the one place input is cleaned at intake.
        _clean_fields(self, ("channel", "user_id", "chat_id", "text", "message_id", "event", "client_address"))

    @property
    def dedup_key(self) -> str:
        return f"{self.channel}:{self.message_id}"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str = ""  # sent back as the message text when pressed; defaults to the label

    @property
    def value(self) -> str:
        return self.payload or self.label


@dataclass(frozen=True, slots=True)
class Citation:
    title: str
    source: str
    year: str
    path: str  # document path, used by the web chat to link to the document text


@dataclass(slots=True)
class Reply:
    text: str
    buttons: list[Button] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)


def reply_to_payload(reply: Reply) -> dict:
    """A Reply as plain JSON, for the outbox table."""
    return {
        "text": reply.text,
        "buttons": [[b.label, b.payload] for b in reply.buttons],
        "images": list(reply.images),
        "citations": [[c.title, c.source, c.year, c.path] for c in reply.citations],
    }


def payload_to_reply(payload: dict) -> Reply:
    return Reply(
        text=payload.get("text", ""),
        buttons=[Button(label, pl) for label, pl in payload.get("buttons", [])],
        images=list(payload.get("images", [])),
        citations=[Citation(*c) for c in payload.get("citations", [])],
    )


def incoming_to_payload(incoming: Incoming) -> dict:
    """An Incoming as plain JSON, for the inbox table (`accepted` is not kept: a stored message is)."""
    data = asdict(incoming)
    data["at"] = incoming.at.isoformat()
    del data["accepted"]
    return data


def payload_to_incoming(payload: dict) -> Incoming:
    """The stored Incoming, marked accepted."""
    fields = {**payload, "at": datetime.fromisoformat(payload["at"]), "accepted": True,
              "attachments": tuple(Attachment(**a) for a in payload.get("attachments", ()))}
    return Incoming(**fields)


def as_accepted(incoming: Incoming) -> Incoming:
    return replace(incoming, accepted=True)
