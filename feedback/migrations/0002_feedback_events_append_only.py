"""Feedback events are append-only: on PostgreSQL a trigger refuses any UPDATE of a stored event.

DELETE stays possible, so removing a source or a workspace (and a retention job) still works.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION feedback_event_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'feedback events are append-only: event %% cannot be changed', OLD.id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER feedback_event_append_only BEFORE UPDATE ON feedback_feedbackevent
    FOR EACH ROW EXECUTE FUNCTION feedback_event_refuse_update();
"""
DROP = """
DROP TRIGGER IF EXISTS feedback_event_append_only ON feedback_feedbackevent;
DROP FUNCTION IF EXISTS feedback_event_refuse_update();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_feedback_sources_events")]

    operations = [migrations.RunPython(forwards, backwards)]
