"""The tables as the app's queries see them.

The migrations in migrations/versions/ create and change the schema; these definitions only
give SQLAlchemy the names and types it needs to write queries and convert values. A column a
later migration adds is left out until the code uses it, so this release also runs on a
database a newer release has migrated.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, Table, Text

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
)
groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("venue", Text, nullable=False),
)
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id"), primary_key=True),
)
court_sessions = Table(
    "court_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("court", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
)
bookings = Table(
    "bookings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("court_sessions.id"), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
