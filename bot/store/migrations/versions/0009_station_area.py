"""Where a station sits: city (地级市), district (县/区, empty where towns sit directly under the city, as in
东莞 and 中山) and township (镇/街); supervisors scoped to a district, a city or the province.

`stations.county` becomes `stations.district` (same meaning, the name the four-level chain uses) and `town`
is filled from the station's name where it says so (石龙镇社工站 → 石龙镇). A supervisor is a `workers` row
without a station and with a scope such as "city:东莞市", so invites and chat binding work as for workers.

Revision ID: 0007
Revises: 0005
"""

import re
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TOWN = re.compile(r"^(.{1,12}?(?:镇|街道|街|乡))")


def upgrade() -> None:
    # A plain rename and added columns: no table is rebuilt (SQLite would refuse to drop tables that
    # other tables' foreign keys point at).
    op.execute("ALTER TABLE stations RENAME COLUMN county TO district")
    op.add_column("stations", sa.Column("town", sa.String(32), nullable=False, server_default=""))
    op.add_column("workers", sa.Column("scope", sa.String(80), nullable=False, server_default=""))
    bind = op.get_bind()
    stations = sa.table(
        "stations", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("town", sa.String)
    )
    for station_id, name in bind.execute(sa.select(stations.c.id, stations.c.name)).all():
        if (found := TOWN.match(name)) is not None:
            bind.execute(stations.update().where(stations.c.id == station_id).values(town=found.group(1)))
    if bind.dialect.name == "sqlite":
        _sqlite_set_workers_sql(
            bind,
            lambda sql: sql.replace("station_id INTEGER NOT NULL", "station_id INTEGER").replace(
                "role VARCHAR(8)", "role VARCHAR(16)"
            ),
        )
    else:  # SQLite does not check lengths
        op.alter_column("workers", "station_id", existing_type=sa.Integer, nullable=True)
        op.alter_column("workers", "role", existing_type=sa.String(8), type_=sa.String(16), existing_nullable=False)


def _sqlite_set_workers_sql(bind: sa.Connection, change: Callable[[str], str]) -> None:
    """Drop (or restore) workers.station_id's NOT NULL, and widen the role's declared length, in place: SQLite's
    documented procedure for removing a
    NOT NULL constraint (https://www.sqlite.org/lang_altertable.html, "otheralter"), since rebuilding the
    table would need foreign keys off, which cannot change inside the migration's transaction."""
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'workers'").scalar_one()
    changed = change(sql)
    if changed == sql:
        raise RuntimeError(f"unexpected workers table definition: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'workers'", (changed,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def downgrade() -> None:
    op.execute("DELETE FROM worker_identities WHERE worker_id IN (SELECT id FROM workers WHERE station_id IS NULL)")
    op.execute("DELETE FROM invites WHERE worker_id IN (SELECT id FROM workers WHERE station_id IS NULL)")
    op.execute("DELETE FROM workers WHERE station_id IS NULL")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_set_workers_sql(
            bind,
            lambda sql: sql.replace("station_id INTEGER,", "station_id INTEGER NOT NULL,").replace(
                "role VARCHAR(16)", "role VARCHAR(8)"
            ),
        )
    else:
        op.alter_column("workers", "role", existing_type=sa.String(16), type_=sa.String(8), existing_nullable=False)
        op.alter_column("workers", "station_id", existing_type=sa.Integer, nullable=False)
    op.drop_column("workers", "scope")
    op.drop_column("stations", "town")
    op.execute("ALTER TABLE stations RENAME COLUMN district TO county")
