"""The platform-neutral message model: every channel translates to and from these types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AttachmentKind = Literal["image", "voice", "location", "file"]


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: AttachmentKind
    url: str = ""  # platform media URL or id
    latitude: float | None = None
    longitude: float | None = None
    label: str = ""  # e.g. a location's name


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
