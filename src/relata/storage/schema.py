"""Tables. Every row belongs to a workspace; instants are integer milliseconds since the epoch (UTC).

Attributes are a JSON document of visible values plus a JSON document of per-attribute stamps (the
timestamp of the write that set each attribute, removed ones included), see ``relata.core.attributes``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Ms = BigInteger


def _ws() -> Column[int]:
    return Column("workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)


workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("created_at", Ms, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    # track: site_id is the public half, secret the API key; pipelines and app: secret only.
    Column("kind", String(16), nullable=False),
    Column("site_id", String(64), nullable=True, unique=True),
    Column("secret", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", Ms, nullable=False),
    Column("revoked_at", Ms, nullable=True),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("version", Integer, nullable=False),
    Column("document", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "version", name="uq_contracts_version"),
)

object_types = Table(
    "object_types",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("type_id", String(32), nullable=False),
    Column("name", String(150), nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "type_id", name="uq_object_types_type_id"),
    UniqueConstraint("workspace_id", "name", name="uq_object_types_name"),
)

people = Table(
    "people",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    Column("cio_id", String(40), nullable=False),
    Column("ident", String(300), nullable=True),
    Column("email", String(300), nullable=True),
    Column("email_key", String(300), nullable=True),
    Column("attributes", Json, nullable=False),
    Column("stamps", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "cio_id", name="uq_people_cio_id"),
    UniqueConstraint("workspace_id", "ident", name="uq_people_ident"),
    UniqueConstraint("workspace_id", "email_key", name="uq_people_email_key"),
    sqlite_autoincrement=True,
)

anonymous_ids = Table(
    "anonymous_ids",
    metadata,
    _ws(),
    Column("anonymous_id", String(300), nullable=False),
    Column("person_pk", BigInteger, ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "anonymous_id", name="uq_anonymous_ids_anonymous_id"),
    Index("ix_anonymous_ids_person", "person_pk"),
)

objects = Table(
    "objects",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    Column("type_pk", Integer, ForeignKey("object_types.id", ondelete="CASCADE"), nullable=False),
    Column("object_id", String(300), nullable=False),
    Column("cio_object_id", String(40), nullable=False),
    Column("attributes", Json, nullable=False),
    Column("stamps", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("type_pk", "object_id", name="uq_objects_type_object_id"),
    UniqueConstraint("workspace_id", "cio_object_id", name="uq_objects_cio_object_id"),
    Index("ix_objects_ws_type_updated", "workspace_id", "type_pk", "updated_at"),
    sqlite_autoincrement=True,
)

person_links = Table(
    "person_links",
    metadata,
    _ws(),
    Column("person_pk", BigInteger, ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    Column("object_pk", BigInteger, ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    Column("attributes", Json, nullable=False),
    Column("stamps", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("person_pk", "object_pk", name="uq_person_links_pair"),
    Index("ix_person_links_object", "object_pk"),
)

anonymous_links = Table(
    "anonymous_links",
    metadata,
    _ws(),
    Column("anonymous_id", String(300), nullable=False),
    Column("object_pk", BigInteger, ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    Column("attributes", Json, nullable=False),
    Column("stamps", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "anonymous_id", "object_pk", name="uq_anonymous_links_pair"),
    Index("ix_anonymous_links_object", "object_pk"),
)

object_links = Table(
    "object_links",
    metadata,
    _ws(),
    Column("parent_pk", BigInteger, ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    Column("child_pk", BigInteger, ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    Column("attributes", Json, nullable=False),
    Column("stamps", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("parent_pk", "child_pk", name="uq_object_links_pair"),
    Index("ix_object_links_child", "child_pk"),
)

events = Table(
    "events",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    Column("person_pk", BigInteger, ForeignKey("people.pk", ondelete="CASCADE"), nullable=True),
    Column("anonymous_id", String(300), nullable=True),
    Column("name", String(300), nullable=False),
    Column("type", String(16), nullable=False),
    Column("data", Json, nullable=False),
    Column("timestamp", Ms, nullable=False),
    Column("dedupe_id", String(300), nullable=True),
    Column("received_at", Ms, nullable=False),
    Index("ix_events_person_name_ts", "person_pk", "name", "timestamp"),
    Index("ix_events_ws_anonymous", "workspace_id", "anonymous_id"),
    Index(
        "uq_events_dedupe",
        "workspace_id",
        "dedupe_id",
        unique=True,
        sqlite_where=text("dedupe_id IS NOT NULL"),
        postgresql_where=text("dedupe_id IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

devices = Table(
    "devices",
    metadata,
    _ws(),
    Column("person_pk", BigInteger, ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    Column("token", String(500), nullable=False),
    Column("platform", String(32), nullable=True),
    Column("last_used", Ms, nullable=True),
    Column("attributes", Json, nullable=False),
    Column("updated_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "token", name="uq_devices_token"),
    Index("ix_devices_person", "person_pk"),
)

suppressions = Table(
    "suppressions",
    metadata,
    _ws(),
    Column("kind", String(16), nullable=False),
    Column("value", String(300), nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("workspace_id", "kind", "value", name="uq_suppressions_identifier"),
)

changes = Table(
    "changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    Column("at", Ms, nullable=False),
    Column("op", String(32), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("person_pk", BigInteger, nullable=True),
    Column("object_pk", BigInteger, nullable=True),
    Column("other_pk", BigInteger, nullable=True),
    Column("diff", Json, nullable=False),
    Column("data", Json, nullable=False),
    Index("ix_changes_person", "workspace_id", "person_pk", "seq"),
    Index("ix_changes_object", "workspace_id", "object_pk", "seq"),
    sqlite_autoincrement=True,
)

violations = Table(
    "violations",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("type_name", String(150), nullable=False),
    Column("attribute", String(150), nullable=False, server_default=""),
    Column("kind", String(32), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("first_seen", Ms, nullable=False),
    Column("last_seen", Ms, nullable=False),
    Column("last_message", Text, nullable=False),
    Column("samples", Json, nullable=False),
    UniqueConstraint("workspace_id", "type_name", "attribute", "kind", name="uq_violations_key"),
)
