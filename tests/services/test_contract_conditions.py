"""Rule conditions compiled to SQL agree with the Python evaluator, on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef
from relata.core.operations import IdentifyObject
from relata.core.quality import holds, parse_when
from relata.storage import objects, quality
from relata.storage.workspaces import Credentials

STORED: dict[str, dict[str, Any]] = {
    "a": {"status": "active", "n": 1, "flag": True},
    "b": {"status": "abandoned", "n": 1.5, "flag": False},
    "c": {"status": "1", "n": 2},
    "d": {"other": "x"},
    "e": {"status": "active", "n": "1", "flag": "true"},
}

CONDITIONS = [
    {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
    {"attribute": {"field": "status", "operator": "neq", "value": "active"}},
    {"attribute": {"field": "status", "operator": "in", "value": ["active", "abandoned"]}},
    {"attribute": {"field": "status", "operator": "not_in", "value": ["active", 1]}},
    {"attribute": {"field": "n", "operator": "eq", "value": 1}},
    {"attribute": {"field": "n", "operator": "eq", "value": 1.5}},
    {"attribute": {"field": "flag", "operator": "eq", "value": True}},
    {"attribute": {"field": "flag", "operator": "neq", "value": False}},
    {"attribute": {"field": "flag", "operator": "exists"}},
    {"attribute": {"field": "flag", "operator": "not_exists"}},
    {
        "and": [
            {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
            {"attribute": {"field": "n", "operator": "in", "value": [1, 2]}},
        ]
    },
    {
        "or": [
            {"attribute": {"field": "status", "operator": "eq", "value": "1"}},
            {"attribute": {"field": "other", "operator": "exists"}},
        ]
    },
]


@pytest.mark.parametrize("raw", CONDITIONS, ids=[str(i) for i in range(len(CONDITIONS))])
def test_sql_agrees_with_python(runtime: Runtime, workspace: Credentials, raw: dict[str, Any]) -> None:
    ws = workspace.workspace.id
    ops = [IdentifyObject(ObjectRef("thing", key), attrs) for key, attrs in STORED.items()]
    assert runtime.services.ingest.apply(ws, ops) == []
    condition = parse_when(raw, "when")
    expected = {key for key, attrs in STORED.items() if holds(condition, attrs)}
    with runtime.services.db.read() as conn:
        thing = objects.find_type(conn, ws, "thing")
        assert thing is not None
        # Every object is older than a cutoff in the future, so the condition alone decides.
        count, found = quality.aged(conn, ws, thing, "missing", condition, 2**62, limit=None)
    assert {f["object_id"] for f in found} == expected
    assert count == len(expected)
