"""Station directory details (address, phone, opening hours, location) and the resident's chosen station."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.store.casework_models import Station
from bot.store.feature import FeatureStore
from bot.store.handoff_records import StationInfo

if TYPE_CHECKING:
    pass

DETAIL_FIELDS = ("address", "phone", "hours", "latitude", "longitude")


def station_info(row: Station) -> StationInfo:
    return StationInfo(row.id, row.name, row.district, row.city, row.address, row.phone, row.hours, row.latitude,
                       row.longitude)


class DirectoryStore(FeatureStore):
    async def set_resident_station(self, user_id: int, station_id: int, town: str) -> None:
        async with self.session.begin() as s:
            await self.store.upsert_profile(s, user_id, station_id=station_id, town=town[:32])


    async def set_station_details(self, station_id: int, **details: str | float | None) -> StationInfo | None:
        """Change the given details (None leaves a field as it is; "" clears a text field)."""
        unknown = set(details) - set(DETAIL_FIELDS)
        if unknown:
            raise ValueError(f"unknown station fields: {sorted(unknown)}")
        for name in ("latitude", "longitude"):
            value = details.get(name)
            limit = 90 if name == "latitude" else 180
            if value is not None and not -limit <= float(value) <= limit:
                raise ValueError(f"{'纬度' if name == 'latitude' else '经度'}超出范围：{value}")
        async with self.session.begin() as s:
            row = await s.get(Station, station_id)
            if row is None:
                return None
            for name, value in details.items():
                if value is not None:
                    setattr(row, name, value.strip() if isinstance(value, str) else float(value))
            return station_info(row)

    async def station_info(self, station_id: int) -> StationInfo | None:
        async with self.session() as s:
            row = await s.get(Station, station_id)
            return None if row is None else station_info(row)

    async def station_directory(self) -> list[StationInfo]:
        async with self.session() as s:
            return [station_info(r) for r in (await s.execute(select(Station).order_by(Station.name))).scalars()]
