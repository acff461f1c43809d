"""The fast import path: fewer per-row costs on Record, and full-text search in a table of its own.

- Record loses its dataset-only index (the (dataset, id) and (dataset, content_hash) indexes lead with it) and its
  prompt_hash index (nothing looks records up by prompt across datasets), its parent index becomes partial (most
  records have none), and its lineage pointers (source, parent, import_job) lose their database constraints, which
  Django keeps instead.
- The staging table loses its job constraint and becomes UNLOGGED (PostgreSQL): staged rows are written once, not
  twice; after a database crash empties it, a resumed import notices and starts its file again.
- Full-text search moves from an expression index on Record to datahub_recordsearch (record_id, document tsvector,
  GIN), PostgreSQL only; the document is every string value of the messages (jsonb_to_tsvector), not the JSON keys.
  A statement trigger fills it for every insert into Record, except inside a transaction
  that sets datahub.defer_search = 'on': the bulk import does, and indexes its records right after it commits
  (ImportJob.search_pending marks the records still waiting; search matches those by substring meanwhile).
  Tokenising every record was half of a bulk import's time.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

POSTGRES_FORWARD = [
    "ALTER TABLE datahub_stagedrecord SET UNLOGGED",
    "CREATE INDEX IF NOT EXISTS datahub_recordsearch_document ON datahub_recordsearch USING gin (document)",
    "INSERT INTO datahub_recordsearch (record_id, document) "
    """SELECT id, jsonb_to_tsvector('simple'::regconfig, messages, '["string"]') FROM datahub_record ON CONFLICT DO NOTHING""",
    """CREATE OR REPLACE FUNCTION datahub_record_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('datahub.defer_search', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO datahub_recordsearch (record_id, document)
        SELECT id, jsonb_to_tsvector('simple'::regconfig, messages, '["string"]') FROM inserted_records;
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS datahub_record_search ON datahub_record",
    "CREATE TRIGGER datahub_record_search AFTER INSERT ON datahub_record REFERENCING NEW TABLE AS inserted_records "
    "FOR EACH STATEMENT EXECUTE FUNCTION datahub_record_search_insert()",
    "DROP INDEX IF EXISTS datahub_record_messages_fts",
]
POSTGRES_BACKWARD = [
    "ALTER TABLE datahub_stagedrecord SET LOGGED",
    "DROP TRIGGER IF EXISTS datahub_record_search ON datahub_record",
    "DROP FUNCTION IF EXISTS datahub_record_search_insert()",
    "CREATE INDEX IF NOT EXISTS datahub_record_messages_fts ON datahub_record "
    "USING gin (to_tsvector('simple'::regconfig, messages::text)) WITH (fastupdate = on, gin_pending_list_limit = 32768)",
]


def postgres_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_FORWARD:
            schema_editor.execute(sql)


def postgres_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('datahub', '0005_quality_score_and_curation_operations'),
    ]

    operations = [
        migrations.CreateModel(
            name='RecordSearch',
            fields=[
                ('record', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='datahub.record')),
                ('document', django.contrib.postgres.search.SearchVectorField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='record',
            name='datahub_rec_prompt__44a620_idx',
        ),
        migrations.RemoveIndex(
            model_name='stagedrecord',
            name='datahub_sta_job_id_dca9ac_idx',
        ),
        migrations.AddField(
            model_name='importjob',
            name='search_pending',
            field=models.BooleanField(default=False, help_text='its records are not in the full-text index yet; search matches them by substring meanwhile'),
        ),
        migrations.AddField(
            model_name='stagedrecord',
            name='ordinal',
            field=models.PositiveIntegerField(default=0, help_text="the row's place in the file, counting from 1"),
        ),
        migrations.AlterField(
            model_name='record',
            name='dataset',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='records', to='datahub.dataset'),
        ),
        migrations.AlterField(
            model_name='record',
            name='import_job',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='records', to='datahub.importjob'),
        ),
        migrations.AlterField(
            model_name='record',
            name='parent',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='children', to='datahub.record'),
        ),
        migrations.AlterField(
            model_name='record',
            name='source',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='records', to='datahub.source'),
        ),
        migrations.AlterField(
            model_name='stagedrecord',
            name='job',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='staged', to='datahub.importjob'),
        ),
        migrations.AddIndex(
            model_name='record',
            index=models.Index(condition=models.Q(('parent__isnull', False)), fields=['parent'], name='record_parent_set'),
        ),
        migrations.AddIndex(
            model_name='stagedrecord',
            index=models.Index(fields=['job', 'ordinal'], name='datahub_sta_job_id_96900e_idx'),
        ),
        migrations.RunPython(postgres_forward, postgres_backward),
    ]
