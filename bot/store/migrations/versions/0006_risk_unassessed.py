"""Risk level 未评估: a case imported with a blank 风险等级 is not assessed, not 低. cases.risk_level and
visits.risk_before (which keeps the case's level for 撤销) grow from 2 to 8 characters.

SQLite cannot change a column's type in place, and rebuilding `cases` would drop it under enforced foreign keys
(visits and reminder rows refer to it; ON DELETE CASCADE would empty the reminder ledger). So on SQLite the
column is renamed, a new one added and filled, and the old one dropped: all without a table rebuild
(SQLite 3.35 or later).

Revision ID: 0006
Revises: 0005
"""

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (("cases", "risk_level", "'未评估'"), ("visits", "risk_before", "''"))


def _sqlite_retype(table: str, column: str, default: str, length: int) -> None:
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {column} TO {column}_old")
    op.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR({length}) NOT NULL DEFAULT {default}")
    op.execute(f"UPDATE {table} SET {column} = {column}_old")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}_old")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35):
            raise RuntimeError(f"数据库升级需要 SQLite 3.35 或更新版本（现在是 {sqlite3.sqlite_version}）")
        for table, column, default in COLUMNS:
            _sqlite_retype(table, column, default, 8)
        return
    for table, column, _default in COLUMNS:
        op.alter_column(table, column, type_=sa.String(8), existing_type=sa.String(2), existing_nullable=False)


def downgrade() -> None:
    op.execute("UPDATE cases SET risk_level = '低' WHERE risk_level = '未评估'")
    op.execute("UPDATE visits SET risk_before = '低' WHERE risk_before = '未评估'")
    if op.get_bind().dialect.name == "sqlite":
        for table, column, default in COLUMNS:
            _sqlite_retype(table, column, "'低'" if column == "risk_level" else default, 2)
        return
    for table, column, _default in COLUMNS:
        op.alter_column(table, column, type_=sa.String(2), existing_type=sa.String(8), existing_nullable=False)
