"""An area of the four-level chain (province → city → district → township station), as a report's scope and as a
supervisor's scope ("province", "city:东莞市", "district:南海区" or "district:佛山市/南海区")."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store import StationRecord

LEVELS = ("station", "district", "city", "province")
LEVEL_NAMES = {"station": "社工站", "district": "县（区）", "city": "市", "province": "全省"}


class AreaError(ValueError):
    """A scope text that names no area; the message is for the operator (Chinese)."""


@dataclass(frozen=True, slots=True)
class Area:
    level: str  # station | district | city | province
    name: str = ""  # the station's, district's or city's name ("" for the province)
    city: str = ""  # for a district: the city, when given, to tell apart districts of the same name

    @property
    def label(self) -> str:
        if self.level == "province":
            return "全省"
        return f"{self.city}{self.name}" if self.level == "district" and self.city else self.name

    @property
    def scope(self) -> str:
        """The text form stored for a supervisor and parsed by `parse_scope`."""
        if self.level == "province":
            return "province"
        return f"{self.level}:{self.city}/{self.name}" if self.city else f"{self.level}:{self.name}"

    def contains(self, station: StationRecord) -> bool:
        if self.level == "province":
            return True
        if self.level == "city":
            return station.city == self.name
        if self.level == "district":
            return station.district == self.name and (not self.city or station.city == self.city)
        return station.name == self.name


def parse_scope(text: str) -> Area:
    text = text.strip()
    level, _, value = text.partition(":")
    level, value = level.strip().lower(), value.strip()
    if level == "province" and not value or text in ("全省", "广东省"):
        return Area("province")
    if level not in ("district", "city", "station") or not value:
        raise AreaError(
            f"范围写法不对：{text}（应为 district:南海区、district:佛山市/南海区、city:东莞市 或 province）"
        )
    if level == "district" and "/" in value:
        city, _, district = value.partition("/")
        if not city.strip() or not district.strip():
            raise AreaError(f"范围写法不对：{text}（应为 district:佛山市/南海区）")
        return Area("district", district.strip(), city.strip())
    return Area(level, value)
