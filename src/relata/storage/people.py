"""People rows: lookup by id, email or cio_id; insert, update, delete; anonymous ids."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from relata.core.attributes import AttributeState
from relata.core.identity import PersonRef, normalize_email
from relata.core.model import Person
from relata.core.times import Millis
from relata.storage.database import inserted_pk
from relata.storage.schema import anonymous_ids, people


def new_cio_id() -> str:
    return secrets.token_hex(10)


def person_from_row(row: Row[Any]) -> Person:
    return Person(
        pk=row.pk,
        cio_id=row.cio_id,
        id=row.ident,
        email=row.email,
        attributes=row.attributes,
        stamps=row.stamps,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def find(conn: Connection, workspace_id: int, ref: PersonRef) -> Person | None:
    if ref.kind == "id":
        where = people.c.ident == ref.value
    elif ref.kind == "email":
        where = people.c.email_key == normalize_email(ref.value)
    else:
        where = people.c.cio_id == ref.value
    row = conn.execute(select(people).where(people.c.workspace_id == workspace_id, where)).first()
    return None if row is None else person_from_row(row)


def get(conn: Connection, workspace_id: int, pk: int) -> Person | None:
    row = conn.execute(select(people).where(people.c.workspace_id == workspace_id, people.c.pk == pk)).first()
    return None if row is None else person_from_row(row)


def owner_of(conn: Connection, workspace_id: int, kind: str, value: str) -> int | None:
    """The pk of the person whose id (``kind="id"``) or email is ``value``."""
    column = people.c.ident if kind == "id" else people.c.email_key
    key = value if kind == "id" else normalize_email(value)
    return conn.execute(
        select(people.c.pk).where(people.c.workspace_id == workspace_id, column == key)
    ).scalar_one_or_none()


def create(
    conn: Connection, workspace_id: int, ident: str | None, state: AttributeState, now: Millis
) -> Person:
    cio_id = new_cio_id()
    email = state.values.get("email")
    email_text = email if isinstance(email, str) else None
    pk = inserted_pk(
        conn.execute(
            insert(people).values(
                workspace_id=workspace_id,
                cio_id=cio_id,
                ident=ident,
                email=email_text,
                email_key=normalize_email(email_text) if email_text else None,
                attributes=dict(state.values),
                stamps=dict(state.stamps),
                created_at=now,
                updated_at=now,
            )
        )
    )
    return Person(pk, cio_id, ident, email_text, state.values, state.stamps, now, now)


def save(conn: Connection, person: Person, ident: str | None, state: AttributeState, now: Millis) -> Person:
    email = state.values.get("email")
    email_text = email if isinstance(email, str) else None
    conn.execute(
        update(people)
        .where(people.c.pk == person.pk)
        .values(
            ident=ident,
            email=email_text,
            email_key=normalize_email(email_text) if email_text else None,
            attributes=dict(state.values),
            stamps=dict(state.stamps),
            updated_at=now,
        )
    )
    return Person(
        person.pk, person.cio_id, ident, email_text, state.values, state.stamps, person.created_at, now
    )


def remove(conn: Connection, pk: int) -> None:
    conn.execute(delete(people).where(people.c.pk == pk))


def person_for_anonymous(conn: Connection, workspace_id: int, anonymous_id: str) -> int | None:
    return conn.execute(
        select(anonymous_ids.c.person_pk).where(
            anonymous_ids.c.workspace_id == workspace_id, anonymous_ids.c.anonymous_id == anonymous_id
        )
    ).scalar_one_or_none()


def claim_anonymous(
    conn: Connection, workspace_id: int, anonymous_id: str, person_pk: int, now: Millis
) -> bool:
    """Tie ``anonymous_id`` to a person; False when it already belongs to someone."""
    if person_for_anonymous(conn, workspace_id, anonymous_id) is not None:
        return False
    conn.execute(
        insert(anonymous_ids).values(
            workspace_id=workspace_id, anonymous_id=anonymous_id, person_pk=person_pk, created_at=now
        )
    )
    return True


def anonymous_ids_of(conn: Connection, person_pk: int) -> list[str]:
    return list(
        conn.execute(
            select(anonymous_ids.c.anonymous_id)
            .where(anonymous_ids.c.person_pk == person_pk)
            .order_by(anonymous_ids.c.anonymous_id)
        ).scalars()
    )


def move_anonymous_ids(conn: Connection, from_pk: int, to_pk: int) -> None:
    conn.execute(update(anonymous_ids).where(anonymous_ids.c.person_pk == from_pk).values(person_pk=to_pk))
