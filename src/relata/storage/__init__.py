"""Persistence on SQLAlchemy Core: the same code on SQLite and PostgreSQL."""
