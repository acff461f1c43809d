from django.db import migrations, models


def existing_ai_projects_keep_their_behaviour(apps, schema_editor):
    # Projects that already have AI annotators ran them beside people; the new default (human only) would refuse them.
    AnnotationProject = apps.get_model("annotation", "AnnotationProject")
    AnnotationProject.objects.filter(ai_annotators__isnull=False).update(mode="ai_assists")


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0010_schema_pairwise"),
    ]

    operations = [
        migrations.AddField(
            model_name="annotationproject",
            name="mode",
            field=models.CharField(choices=[("human_only", "Human only"), ("ai_assists", "AI labels beside people"),
                                            ("ai_first", "AI first, human verifies")], default="human_only", max_length=16),
        ),
        migrations.RunPython(existing_ai_projects_keep_their_behaviour, migrations.RunPython.noop),
    ]
