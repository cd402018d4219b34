"""The templates service: prepared templates cached per version, engines per snippet state, render."""

from __future__ import annotations

from relata.bootstrap import Runtime
from relata.core.templates import MessageContext, Rendered, RenderedEmail, RenderedSms
from relata.services.templates import Templates
from relata.storage.workspaces import Credentials

EMAIL = {
    "key": "welcome",
    "channel": "email",
    "subject": "Hi {{ customer.first_name | default: 'there' }}",
    "html": "<html><head><style>.x { color: red }</style></head><body>"
    '{% for n in (1..2) %}<p class="x">{{ n }}</p>{% endfor %}</body></html>',
}


def test_prepared_once_per_version_and_rendered(runtime: Runtime, workspace: Credentials) -> None:
    service = Templates(runtime.services.db, runtime.services.clock, runtime.services.contracts)
    ws = workspace.workspace.id
    first = service.save(ws, EMAIL)
    assert first.created and first.template.version == 1
    outcome = service.render(ws, "welcome", None, MessageContext())
    assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedEmail)
    assert outcome.content.html.count('<p class="x" style="color: red;">') == 2
    assert outcome.content.text == "1\n\n2"
    with runtime.services.db.read() as conn:
        engine = service.engine(conn, ws)
        prepared = service.prepared(ws, first.template, engine)
        assert service.prepared(ws, first.template, engine) is prepared  # cached
        assert "<style" not in prepared.fields()["html"]  # CSS inlined into the template itself
    second = service.save(ws, {**EMAIL, "subject": "Hello"})
    assert second.template.version == 2
    changed = service.render(ws, "welcome", None, MessageContext())
    assert isinstance(changed, Rendered) and isinstance(changed.content, RenderedEmail)
    assert changed.content.subject == "Hello"
    old = service.render(ws, "welcome", 1, MessageContext())
    assert isinstance(old, Rendered) and isinstance(old.content, RenderedEmail)
    assert old.content.subject == "Hi there"


def test_engine_follows_snippet_changes(runtime: Runtime, workspace: Credentials) -> None:
    service = Templates(runtime.services.db, runtime.services.clock, runtime.services.contracts)
    ws = workspace.workspace.id
    service.save_snippet(ws, {"source": "one"}, name="part")
    service.save(ws, {"key": "t", "channel": "sms", "body": "{% render 'part' %}"})
    with runtime.services.db.read() as conn:
        engine = service.engine(conn, ws)
        assert service.engine(conn, ws) is engine
    first = service.render(ws, "t", None, MessageContext())
    assert (
        isinstance(first, Rendered) and isinstance(first.content, RenderedSms) and first.content.body == "one"
    )
    snippet, changed = service.save_snippet(ws, {"source": "two"}, name="part")
    assert changed and snippet.version == 2
    second = service.render(ws, "t", None, MessageContext())
    assert isinstance(second, Rendered) and isinstance(second.content, RenderedSms)
    assert second.content.body == "two"
    unchanged, changed_again = service.save_snippet(ws, {"source": "two"}, name="part")
    assert not changed_again and unchanged.version == 2
