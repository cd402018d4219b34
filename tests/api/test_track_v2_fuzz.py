"""Fuzzing Track v2 with random JSON-ish envelopes: never a 5xx, always a documented status and shape.

The envelopes mix plausible values (known actions, a small pool of people and objects so operations
meet each other in the database) with arbitrary JSON in every field.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relata.api.track_v2_wire import OBJECT_ACTIONS, PERSON_ACTIONS

Auth = tuple[str, str]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
names = st.sampled_from(["u1", "u2", "a@x.io", "B@X.io", "c1", "7", ""]) | st.text(max_size=8)
person_ids = st.one_of(
    st.fixed_dictionaries({"id": names}),
    st.fixed_dictionaries({"email": st.sampled_from(["a@x.io", "b@x.io", "nope"])}),
    st.fixed_dictionaries({"cio_id": names}),
    st.fixed_dictionaries({"anonymous_id": names}),
    st.dictionaries(
        st.sampled_from(["id", "email", "cio_id", "phone", "anonymous_id"]), json_values, max_size=2
    ),
)
object_ids = st.one_of(
    st.fixed_dictionaries(
        {
            "object_type_id": st.sampled_from(["1", "2", "cart", "Cart", "99"]) | json_values,
            "object_id": names,
        }
    ),
    st.fixed_dictionaries({"cio_object_id": names}),
    st.dictionaries(st.sampled_from(["object_type_id", "object_id", "object_type"]), json_values, max_size=2),
)
identifiers = person_ids | object_ids | json_values
attributes = (
    st.dictionaries(
        st.sampled_from(["email", "id", "plan", "_timestamp", "_update", "anonymous_id", "created_at", ""])
        | st.text(max_size=8),
        json_values,
        max_size=4,
    )
    | json_values
)
relationships = (
    st.lists(
        st.fixed_dictionaries({"identifiers": identifiers}, optional={"relationship_attributes": attributes}),
        max_size=3,
    )
    | json_values
)
timestamps = (
    st.integers(min_value=-10, max_value=2**64)
    | st.sampled_from(["2026-01-01T00:00:00Z", "soon"])
    | json_values
)
devices = (
    st.fixed_dictionaries(
        {},
        optional={
            "token": names | json_values,
            "id": names,
            "platform": json_values,
            "last_used": timestamps,
        },
    )
    | json_values
)
actions = sorted(set(PERSON_ACTIONS) | set(OBJECT_ACTIONS) | {"opened", "upsert"})

envelopes = (
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["person", "object", "delivery"]) | json_values,
            "action": st.sampled_from(actions) | json_values,
            "identifiers": identifiers,
            "attributes": attributes,
            "cio_relationships": relationships,
            "name": names | json_values,
            "id": names | json_values,
            "timestamp": timestamps,
            "device": devices,
            "primary": person_ids | json_values,
            "secondary": person_ids | json_values,
        },
    )
    | json_values
)


def _assert_error_list(body: Any, *, batch_size: int | None) -> None:
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        keys = {"reason", "field", "message"} | ({"batch_index"} if batch_size is not None else set())
        assert set(error) == keys, error
        assert all(isinstance(error[k], str) for k in ("reason", "field", "message")), error
        assert error["message"], error
        if batch_size is not None:
            assert isinstance(error["batch_index"], int) and 0 <= error["batch_index"] < batch_size, error


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(ops=st.lists(envelopes, max_size=6))
def test_batch_never_fails_with_a_server_error(client: TestClient, track_auth: Auth, ops: list[Any]) -> None:
    response = client.post("/api/v2/batch", auth=track_auth, json={"batch": ops})
    assert response.status_code in (200, 207, 400, 413), response.text
    body = response.json()
    if response.status_code == 200:
        assert body == {}
    elif response.status_code == 207:
        _assert_error_list(body, batch_size=len(ops))
        indexes = [e["batch_index"] for e in body["errors"]]
        assert indexes == sorted(indexes)
    else:
        _assert_error_list(body, batch_size=None)


@FUZZ
@given(op=envelopes)
def test_entity_never_fails_with_a_server_error(client: TestClient, track_auth: Auth, op: Any) -> None:
    response = client.post("/api/v2/entity", auth=track_auth, json=op)
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code == 200:
        assert response.json() == {}
    else:
        _assert_error_list(response.json(), batch_size=None)


@FUZZ
@given(body=json_values | st.binary(max_size=40))
def test_any_body_gets_a_documented_answer(client: TestClient, track_auth: Auth, body: Any) -> None:
    content = body if isinstance(body, bytes) else None
    kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body}
    response = client.post("/api/v2/batch", auth=track_auth, **kwargs)
    assert response.status_code in (200, 207, 400, 413), response.text
    if response.status_code in (400, 413):
        _assert_error_list(response.json(), batch_size=None)
