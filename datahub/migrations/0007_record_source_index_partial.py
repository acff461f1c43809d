"""Record's source index becomes partial (source set), like its parent index in 0006.

Records imported without a source (most) then cost the bulk import no index entry; every lookup by source
(the per-source record counts, SET_NULL when a source is deleted) compares source_id with a value, which implies
it is set, so the partial index serves them all. An index is no constraint: integrity is unchanged.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('datahub', '0006_import_fast_path'),
    ]

    operations = [
        migrations.AlterField(
            model_name='record',
            name='source',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='records', to='datahub.source'),
        ),
        migrations.AddIndex(
            model_name='record',
            index=models.Index(condition=models.Q(('source__isnull', False)), fields=['source'], name='record_source_set'),
        ),
    ]
