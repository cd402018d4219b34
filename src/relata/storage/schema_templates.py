"""Tables of templates and snippets (see ``relata.storage.schema`` for the conventions).

A template is one row per ``(workspace, key)`` holding its newest version; every change appends a row
to ``template_versions``, which are never rewritten, so ``(template id, version)`` names exactly the
content a message was rendered from. Deleting a template marks it deleted (its versions stay);
saving the key again revives it with the next version. Snippets work the same way.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from relata.storage.schema import Json, Ms, _ws, metadata

templates = Table(
    "templates",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("key", String(100), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    Column("deleted_at", Ms, nullable=True),
    UniqueConstraint("workspace_id", "key", name="uq_templates_key"),
)

template_versions = Table(
    "template_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("template_id", Integer, ForeignKey("templates.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("content", Json, nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("template_id", "version", name="uq_template_versions_version"),
)

snippets = Table(
    "snippets",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    Column("deleted_at", Ms, nullable=True),
    UniqueConstraint("workspace_id", "name", name="uq_snippets_name"),
)

snippet_versions = Table(
    "snippet_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snippet_id", Integer, ForeignKey("snippets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("snippet_id", "version", name="uq_snippet_versions_version"),
)

__all__ = ["metadata", "snippet_versions", "snippets", "template_versions", "templates"]
