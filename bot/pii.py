"""Personal numbers and details in free text (visit notes, tickets, relayed messages, knowledge-base drafts).

ID numbers are masked when the text is written: the case record holds the real one, encrypted, and nobody
needs it again in a note. Visit notes are then encrypted whole (`seal_note`) and shown with phone numbers
masked (`open_note`); the reminder rules match their keywords on the decrypted text, in Python. Notes
written by the version before sealed only their phone numbers in place (`⟦tel:<Fernet token>⟧`); `reveal`
reads those until the start-up data migration has encrypted them whole. Text meant for publication is
scrubbed of names, ID numbers, phone numbers and addresses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.crypto import FERNET_PREFIX, mask_id, mask_phone

_EDGE_BEFORE, _EDGE_AFTER = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
_DAY = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
ID_NUMBER = re.compile(
    _EDGE_BEFORE + rf"(?:[1-9]\d{{5}}(?:18|19|20)\d{{2}}{_DAY}\d{{3}}[\dXx]|[1-9]\d{{7}}{_DAY}\d{{3}})" + _EDGE_AFTER)
# Mobile numbers (spaces or dashes allowed in the usual 3-4-4 places, an optional +86) and landlines with
# an area code (020-12345678, 0757 8888 1234).
PHONE = re.compile(_EDGE_BEFORE + r"(?:(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}[ -]?\d{7,8})" + _EDGE_AFTER)
SEALED = re.compile(r"⟦tel:([A-Za-z0-9_\-=]+)⟧")
_SEALED_WHOLE = re.compile(r"(⟦tel:[A-Za-z0-9_\-=]+⟧)")
# "住在东村12号", "地址：禅城区季华路8号3座501", "石湾镇东村二巷5号": a place with a house number.
ADDRESS = re.compile(
    r"(?:(?:家住|住在|住址|地址|住)[:：是在]?\s*[^\s，。；、,;！!？?]{2,40})"
    r"|(?:[\u4e00-\u9fff]{1,12}(?:路|街|道|巷|村|里|坊|小区|花园|大厦|社区)[\u4e00-\u9fff\d]{0,12}?\d+[号座栋弄]"
    r"(?:[\d\-]+(?:室|房|楼)?)?)")
# Names people give for themselves or others: "我叫陈桂英", "姓名：陈桂英", "我是陈桂英", "老人叫陈桂英".
NAMED = re.compile(r"(?:我叫|叫做|名叫|姓名[:：]?|名字[是叫:：]?|我是|本人|老人叫|家属叫|儿子叫|女儿叫)\s*"
                   r"([\u4e00-\u9fff]{2,4}?)(?=[，。,.；;、\s！!？?]|$|的|今年|住|家|电话|手机|身份证|现在|，)")


def mask_id_numbers(text: str) -> str:
    """440106199001011234 → 4401**********1234 wherever an ID number appears."""
    return ID_NUMBER.sub(lambda m: mask_id(m.group(0)), text) if text else text


def _outside_sealed(text: str, change: Callable[[str], str]) -> str:
    parts = _SEALED_WHOLE.split(text)  # odd indexes are tokens
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))


def mask_phones(text: str) -> str:
    """Phone numbers shown as 138****5678 (sealed ones are revealed masked by `reveal`)."""
    return _outside_sealed(text, lambda part: PHONE.sub(lambda m: mask_phone(_digits(m.group(0))), part))


def reveal(text: str, decrypt: Callable[[str], str], masked: bool) -> str:
    """Sealed phone numbers back as written (`masked=False`: exports) or masked (lists, messages)."""
    if "⟦tel:" not in text:
        return text
    return SEALED.sub(lambda m: mask_phone(_digits(decrypt(m.group(1)))) if masked else decrypt(m.group(1)), text)


def seal_note(text: str, encrypt: Callable[[str], str]) -> str:
    """A visit's free-text field as it is written to the database: ID numbers masked, then encrypted whole."""
    return encrypt(mask_id_numbers(text)) if text else ""


def open_note(stored: str, decrypt: Callable[[str], str], masked: bool) -> str:
    """A stored visit note as people see it: phone numbers masked (lists, messages) or in full (`masked=False`:
    the station's own exports). Reads every form a note was stored in: encrypted whole, phone numbers sealed
    in place, or clear."""
    text = decrypt(stored) if stored.startswith(FERNET_PREFIX) else stored
    text = reveal(text, decrypt, masked)
    return mask_phones(text) if masked else text


def scrub_for_publication(text: str, names: Iterable[str] = ()) -> str:
    """Text a knowledge-base answer may show anyone: no ID numbers, phone numbers, addresses or names
    (those given in the text itself, and `names`: the station's residents)."""
    text = ID_NUMBER.sub("[身份证号]", text)
    text = PHONE.sub("[电话]", text)
    text = ADDRESS.sub(lambda m: _address_label(m.group(0)), text)
    found = {m.group(1) for m in NAMED.finditer(text)} | {n for n in names if len(n) >= 2}
    for name in sorted(found, key=len, reverse=True):
        text = text.replace(name, "某某")
    return text


def _address_label(found: str) -> str:
    lead = re.match(r"(家住|住在|住址|地址|住)[:：是在]?\s*", found)
    return (lead.group(0) if lead else "") + "[地址]"


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
