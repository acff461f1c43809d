"""The import copies its records straight into Record: staged a chunk at a time as COPY lines in a file, and the
dataset reference checked once per statement instead of once per row.

- StagedRecord goes. Staging a row per record cost a write, a JSON parse and a delete per record, and then an
  INSERT … SELECT to move it; now the importer copies each chunk into Record directly and stages it only for a resumed
  import to copy again, as the chunk's lines appended to a file beside the upload (ImportJob.staged_bytes and
  staged_crc say how much of the file the committed chunks fill). Rows staged by an import running while this
  migrates are lost with the table: its resume finds nothing staged and reads its file again.
- Record.dataset keeps its meaning but not its foreign key constraint, whose trigger checked and key-share-locked the
  dataset once per inserted row: a quarter of a bulk import's database time. On PostgreSQL, triggers keep the same
  guarantee per statement: an insert (or a move to another dataset) naming a dataset that does not exist fails, and
  key-share-locks the datasets it names, so none is deleted before the inserting transaction ends; deleting a dataset
  that still has records fails at commit, as the deferred constraint did (Django deletes the records first). On SQLite,
  the embedded single-user default, Django's cascade keeps the reference, as it does for Record's other pointers.
- Record.created_at defaults to now() in the database too: the COPY leaves it out, one timestamp fewer to parse per
  record, and the imported records get the moving transaction's start.
- content_hash compares bytewise (COLLATE "C", PostgreSQL): hex digits sort the same either way, and the unique
  (dataset, content_hash) index, which every imported record is checked against, skips the locale's comparison.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

POSTGRES_FORWARD = [
    'ALTER TABLE datahub_record ALTER COLUMN content_hash TYPE varchar(64) COLLATE "C"',
    """CREATE OR REPLACE FUNCTION datahub_dataset_hold(named bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM datahub_dataset WHERE id = named FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation USING CONSTRAINT = 'record_dataset_exists', TABLE = 'datahub_record',
            MESSAGE = format('dataset %s does not exist', named);
    END IF;
END $$""",
    """CREATE OR REPLACE FUNCTION datahub_record_dataset_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM datahub_dataset_hold(named.dataset_id) FROM (SELECT DISTINCT dataset_id FROM new_records) named;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER datahub_record_dataset_inserted AFTER INSERT ON datahub_record REFERENCING NEW TABLE AS new_records "
    "FOR EACH STATEMENT EXECUTE FUNCTION datahub_record_dataset_inserted()",
    """CREATE OR REPLACE FUNCTION datahub_record_dataset_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM datahub_dataset_hold(NEW.dataset_id);
    RETURN NULL;
END $$""",
    "CREATE TRIGGER datahub_record_dataset_changed AFTER UPDATE OF dataset_id ON datahub_record FOR EACH ROW "
    "WHEN (OLD.dataset_id IS DISTINCT FROM NEW.dataset_id) EXECUTE FUNCTION datahub_record_dataset_changed()",
    """CREATE OR REPLACE FUNCTION datahub_dataset_records_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM datahub_record WHERE dataset_id = OLD.id) THEN
        RAISE foreign_key_violation USING CONSTRAINT = 'record_dataset_exists', TABLE = 'datahub_dataset',
            MESSAGE = format('dataset %s still has records', OLD.id);
    END IF;
    RETURN NULL;
END $$""",
    "CREATE CONSTRAINT TRIGGER datahub_dataset_records AFTER DELETE ON datahub_dataset DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION datahub_dataset_records_check()",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS datahub_dataset_records ON datahub_dataset",
    "DROP FUNCTION IF EXISTS datahub_dataset_records_check()",
    "DROP TRIGGER IF EXISTS datahub_record_dataset_changed ON datahub_record",
    "DROP FUNCTION IF EXISTS datahub_record_dataset_changed()",
    "DROP TRIGGER IF EXISTS datahub_record_dataset_inserted ON datahub_record",
    "DROP FUNCTION IF EXISTS datahub_record_dataset_inserted()",
    "DROP FUNCTION IF EXISTS datahub_dataset_hold(bigint)",
    'ALTER TABLE datahub_record ALTER COLUMN content_hash TYPE varchar(64) COLLATE "default"',
]


def postgres_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_FORWARD:
            schema_editor.execute(sql, None)  # None: the SQL holds "%s" of its own (format())


def postgres_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_BACKWARD:
            schema_editor.execute(sql, None)  # None: the SQL holds "%s" of its own (format())


class Migration(migrations.Migration):

    dependencies = [
        ('datahub', '0007_record_source_index_partial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='record',
            name='dataset',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='records', to='datahub.dataset'),
        ),
        migrations.AlterField(
            model_name='record',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, db_default=django.db.models.functions.datetime.Now()),
        ),
        migrations.AddField(
            model_name='importjob',
            name='staged_bytes',
            field=models.PositiveBigIntegerField(default=0, help_text='bytes of staged records the committed chunks fill'),
        ),
        migrations.AddField(
            model_name='importjob',
            name='staged_crc',
            field=models.PositiveBigIntegerField(default=0, help_text='CRC-32 of those bytes'),
        ),
        migrations.DeleteModel(
            name='StagedRecord',
        ),
        migrations.RunPython(postgres_forward, postgres_backward),
    ]
