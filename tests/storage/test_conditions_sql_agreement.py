"""Property: the SQL executor and the per-person evaluator agree on generated data and conditions, on
SQLite and on PostgreSQL (SPEC §6 "one meaning, two executors")."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_conditions_sql_data import Graph

from relata.core.conditions import Scope, evaluate, parse_condition
from relata.core.contract import EMPTY, Contract
from relata.core.contract_parse import parse_contract
from relata.core.errors import ValidationError
from relata.storage.conditions_load import load_snapshot
from relata.storage.conditions_sql import DefinedSegments, matching_people
from relata.storage.database import Database

NOW = 1_700_000_000_000
D = 86_400_000
TYPES = {"cart": "1", "item": "2", "order": "3"}
CONTRACT = parse_contract(
    {
        "object_types": {name: {"id": type_id} for name, type_id in TYPES.items()},
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers"},
            {"from": "person", "to": "order", "as": "orders", "inverse": "buyers"},
            {"from": "cart", "to": "item", "as": "items", "inverse": "cart"},
            {"from": "order", "to": "item", "as": "lines", "inverse": "order"},
        ],
    }
)
FIELDS = ("f", "g")

SCALARS: list[Any] = [
    True,
    False,
    0,
    1,
    -3,
    2.5,
    12,
    1_699_990_000,
    1_699_999_000_000,
    150_000_000_000,
    "12",
    "012",
    "1.50",
    "-3",
    "abc",
    "ABC",
    "Ab",
    "b",
    "",
    "a b",
    "é",
    "É",
    "true",
    "false",
    "2023-11-14T20:00:00Z",
    "2023-11-14",
    "2023-11-14 21:13:20+01:00",
    "2023-11-14T20:00:00.5Z",
    "2023-02-30",
    "2023-11-14T25:00:00Z",
    "1699990000",
    "2023-11-13T10:00:00.123456-05:30",
]
STORED: list[Any] = [*SCALARS, ["abc", 12, True], [], ["Ab", "b"], {"x": 1}, None]

stored = st.sampled_from(STORED)
scalar = st.sampled_from(SCALARS) | st.text(alphabet="aAb1-. :", max_size=4) | st.integers(-5, 20)
attributes = st.dictionaries(st.sampled_from(FIELDS), stored, max_size=2).map(
    lambda d: {k: v for k, v in d.items() if v is not None}
)


def literal_for(operator: str) -> st.SearchStrategy[Any]:
    if operator in ("exists", "not_exists"):
        return st.none()
    if operator in ("in", "not_in"):
        return st.lists(scalar, min_size=1, max_size=3)
    if operator in ("within", "older_than"):
        return st.sampled_from(["1h", "1d", "3d", "30d"])
    if operator in ("before", "after"):
        return st.sampled_from(
            [
                1_699_990_000,
                1_699_999_000_000,
                "2023-11-14T20:00:00Z",
                "2023-11-14",
                "2023-11-13T10:00:00+02:00",
            ]
        )
    if operator == "between":
        return st.sampled_from(
            [[0, 12], [-5, 2.5], ["2023-11-14", "2023-11-15"], [1_699_000_000, 1_700_000_000]]
        )
    if operator in ("starts_with", "ends_with"):
        return st.sampled_from(["a", "A", "b", "", "1", "20"])
    if operator in ("gt", "gte", "lt", "lte"):
        return scalar.filter(lambda v: not isinstance(v, bool))
    return scalar


@st.composite
def attribute_leaf(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(
        st.sampled_from(
            [
                "eq",
                "neq",
                "gt",
                "gte",
                "lt",
                "lte",
                "in",
                "not_in",
                "exists",
                "not_exists",
                "contains",
                "not_contains",
                "starts_with",
                "ends_with",
                "within",
                "older_than",
                "before",
                "after",
                "between",
            ]
        )
    )
    body: dict[str, Any] = {"field": draw(st.sampled_from(FIELDS)), "operator": operator}
    value = draw(literal_for(operator))
    if value is not None:
        body["value"] = value
    if draw(st.booleans()):
        body["case"] = "insensitive"
    return {"attribute": body}


def combine(leaf: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda items: {"and": items}),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: {"or": items}),
            inner.map(lambda item: {"not": item}),
        ),
        max_leaves=3,
    )


counts = st.none() | st.sampled_from(
    [{"gte": 1}, {"eq": 0}, {"gte": 2}, {"lt": 2}, {"eq": 1}, {"gt": 0, "lte": 2}]
)


@st.composite
def related_leaf(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    choice = draw(st.sampled_from(["type", "via", "both"]))
    if choice in ("type", "both"):
        body["type"] = draw(st.sampled_from([*TYPES, "3"]))
    if choice in ("via", "both"):
        body["via"] = draw(st.sampled_from(["carts", "orders", "items", "cart", "lines", "order"]))
    object_leaf = attribute_leaf() if depth <= 0 else (attribute_leaf() | related_leaf(depth - 1))
    if draw(st.booleans()):
        body["where"] = draw(combine(object_leaf))
    if draw(st.booleans()):
        body["relationship_where"] = draw(combine(attribute_leaf()))
    count = draw(counts)
    if count is not None:
        body["count"] = count
    if draw(st.integers(0, 3)) == 0:
        function = draw(st.sampled_from(["count", "sum", "min", "max", "avg"]))
        aggregate: dict[str, Any] = {"function": function}
        if function != "count" or draw(st.booleans()):
            aggregate["field"] = draw(st.sampled_from(FIELDS))
        operator = draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "between"]))
        aggregate["operator"] = operator
        aggregate["value"] = (
            [0, 12] if operator == "between" else draw(st.sampled_from([0, 1, 2, 2.5, 12, 15]))
        )
        body["aggregate"] = aggregate
    return {"related": body}


@st.composite
def event_leaf(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"name": draw(st.sampled_from(["a", "b"]))}
    if draw(st.booleans()):
        body["where"] = draw(combine(attribute_leaf()))
    if draw(st.booleans()):
        body["occurrence"] = draw(st.sampled_from(["first", "last"]))
        operator = draw(st.sampled_from(["within", "older_than", "before", "after", "between"]))
        body["operator"] = operator
        body["value"] = draw(literal_for(operator)) if operator != "between" else ["2023-11-12", "2023-11-14"]
        return {"event": body}
    if draw(st.booleans()):
        body["within"] = draw(st.sampled_from(["1d", "2d", "7d"]))
    count = draw(counts)
    if count is not None:
        body["count"] = count
    return {"event": body}


person_leaf = (
    attribute_leaf()
    | event_leaf()
    | related_leaf(2)
    | st.just({"segment": {"id": "s"}})
    | st.builds(lambda c: {"trigger_object": c}, combine(attribute_leaf() | related_leaf(1)))
)
conditions = combine(person_leaf)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n_people = draw(st.integers(1, 3))
    object_types = draw(st.lists(st.sampled_from(list(TYPES)), max_size=5))
    n_objects = len(object_types)
    pairs = st.tuples(st.integers(0, n_people - 1), st.integers(0, max(n_objects - 1, 0)))
    person_links = (
        draw(st.lists(st.tuples(pairs, attributes), max_size=6, unique_by=lambda x: x[0]))
        if n_objects
        else []
    )
    object_pairs = st.tuples(st.integers(0, max(n_objects - 1, 0)), st.integers(0, max(n_objects - 1, 0)))
    object_links = (
        draw(st.lists(st.tuples(object_pairs, attributes), max_size=6, unique_by=lambda x: x[0]))
        if n_objects
        else []
    )
    events = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_people - 1),
                st.sampled_from(["a", "b"]),
                st.sampled_from(
                    [NOW - 10 * D, NOW - 3 * D, NOW - D - 1, NOW - D, NOW - 1000, NOW, NOW + 1000]
                ),
                attributes,
            ),
            max_size=6,
        )
    )
    return {
        "people": [draw(attributes) for _ in range(n_people)],
        "objects": [(t, draw(attributes)) for t in object_types],
        "person_links": person_links,
        "object_links": object_links,
        "events": events,
    }


def insert_world(g: Graph, world: dict[str, Any]) -> tuple[list[int], list[int]]:
    people = [g.person(attrs) for attrs in world["people"]]
    objects = [g.object(type_name, attrs) for type_name, attrs in world["objects"]]
    for (person, obj), attrs in world["person_links"]:
        g.link(people[person], objects[obj], attrs)
    for (parent, child), attrs in world["object_links"]:
        g.child(objects[parent], objects[child], attrs)
    for person, name, timestamp, data in world["events"]:
        g.event(people[person], name, timestamp, data)
    return people, objects


def check_agreement(
    database: Database, world: dict[str, Any], data: dict[str, Any], directed: bool, trigger_index: int
) -> None:
    try:
        condition = parse_condition(data)
    except ValidationError:
        assume(False)
        raise
    contract: Contract = CONTRACT if directed else EMPTY
    segments = DefinedSegments({"s": parse_condition({"attribute": {"field": "f", "operator": "exists"}})})
    with database.write() as conn:
        g = Graph(conn, TYPES)
        people, objects = insert_world(g, world)
        scope = Scope()
        if objects:
            index = trigger_index % len(objects)
            type_name = world["objects"][index][0]
            scope = Scope.for_trigger(
                type_name, f"id{index}", world["objects"][index][1], object_pk=objects[index]
            )
        sql = set(
            matching_people(
                conn,
                condition,
                workspace_id=g.workspace_id,
                now=NOW,
                scope=scope,
                contract=contract,
                segments=segments,
            )
        )
        per_person = set()
        for pk in people:
            snapshot = load_snapshot(
                conn,
                condition,
                workspace_id=g.workspace_id,
                person_pk=pk,
                now=NOW,
                scope=scope,
                contract=contract,
                segments=segments,
            )
            assert snapshot is not None
            if evaluate(condition, snapshot, now=NOW, scope=scope, contract=contract):
                per_person.add(pk)
    assert sql == per_person, f"sql {sorted(sql)} != evaluator {sorted(per_person)} for {data}"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), data=conditions, directed=st.booleans(), trigger_index=st.integers(0, 4))
def test_executors_agree(
    database: Database, world: dict[str, Any], data: dict[str, Any], directed: bool, trigger_index: int
) -> None:
    check_agreement(database, world, data, directed, trigger_index)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), data=combine(attribute_leaf()))
def test_executors_agree_on_attributes(
    database: Database, world: dict[str, Any], data: dict[str, Any]
) -> None:
    check_agreement(database, world, data, False, 0)
