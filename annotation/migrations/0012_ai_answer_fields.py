from django.db import migrations, models


class Migration(migrations.Migration):
    """AI answers keep what the model answered to the schema's other questions: rating, free text, pairwise preference."""

    dependencies = [
        ("annotation", "0011_project_mode"),
    ]

    operations = [
        migrations.AddField(
            model_name="aianswer",
            name="rating",
            field=models.PositiveSmallIntegerField(blank=True, help_text="1..the schema's rating_scale; empty when not asked", null=True),
        ),
        migrations.AddField(
            model_name="aianswer",
            name="free_text",
            field=models.TextField(blank=True, help_text="the answer to the schema's free-text question"),
        ),
        migrations.AddField(
            model_name="aianswer",
            name="preference",
            field=models.CharField(blank=True, choices=[("a", "Answer A"), ("b", "Answer B"), ("tie", "Tie")],
                                   help_text="pairwise: a (the stored chosen answer), b (the stored rejected one) or tie; blank: none",
                                   max_length=3),
        ),
    ]
