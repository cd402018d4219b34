"""People rows: lookup by id, email or cio_id; insert, update, delete; anonymous ids."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import BindParameter, Connection, Row, bindparam, delete, insert, select, update

from relata.core.attributes import AttributeState
from relata.core.identity import PersonRef, normalize_email
from relata.core.model import Person
from relata.core.times import Millis
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


_WS: BindParameter[Any] = bindparam("ws")
_KEY: BindParameter[Any] = bindparam("key")
_FIND = {
    "id": select(people).where(people.c.workspace_id == _WS, people.c.ident == _KEY),
    "email": select(people).where(people.c.workspace_id == _WS, people.c.email_key == _KEY),
    "cio_id": select(people).where(people.c.workspace_id == _WS, people.c.cio_id == _KEY),
    "pk": select(people).where(people.c.workspace_id == _WS, people.c.pk == _KEY),
}
_SAVE = (
    update(people)
    .where(people.c.pk == bindparam("b_pk"))
    .values(
        ident=bindparam("ident"),
        email=bindparam("email"),
        email_key=bindparam("email_key"),
        attributes=bindparam("attributes"),
        stamps=bindparam("stamps"),
        updated_at=bindparam("updated_at"),
    )
)


def find(conn: Connection, workspace_id: int, ref: PersonRef) -> Person | None:
    key = normalize_email(ref.value) if ref.kind == "email" else ref.value
    row = conn.execute(_FIND[ref.kind], {"ws": workspace_id, "key": key}).first()
    return None if row is None else person_from_row(row)


def get(conn: Connection, workspace_id: int, pk: int) -> Person | None:
    row = conn.execute(_FIND["pk"], {"ws": workspace_id, "key": pk}).first()
    return None if row is None else person_from_row(row)


def _email(state: AttributeState) -> tuple[str | None, str | None]:
    email = state.values.get("email")
    text = email if isinstance(email, str) else None
    return text, normalize_email(text) if text else None


def save(conn: Connection, person: Person, ident: str | None, state: AttributeState, now: Millis) -> Person:
    email, email_key = _email(state)
    conn.execute(
        _SAVE,
        {
            "b_pk": person.pk,
            "ident": ident,
            "email": email,
            "email_key": email_key,
            "attributes": dict(state.values),
            "stamps": dict(state.stamps),
            "updated_at": now,
        },
    )
    return Person(person.pk, person.cio_id, ident, email, state.values, state.stamps, person.created_at, now)


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
