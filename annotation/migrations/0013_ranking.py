"""Ranking of N answers per schema: the schema's ranking_question, a task's candidates (the entries of the answers to
one prompt) and the annotation's ranking (those entry ids, best first); an AI answer keeps the ranking it gave, and
the AI prompt's help names {questions}; a label keeps its examples.

The submit function (0010) inserts the annotation's columns by name and the new column has no database default, so it
is replaced here, in the same migration as the column: the old signature is dropped and annotation_submit_record takes
one more argument (p_ranking, after p_preference) and stores it; everything else is statement for statement 0010's.
"""

from django.db import migrations, models


SUBMIT_FUNCTION = r"""
CREATE OR REPLACE FUNCTION annotation_submit_record(p_task bigint, p_assignment bigint, p_annotator integer, p_overlap integer,
                                                    p_now timestamptz, p_kind text, p_correction text, p_comment text,
                                                    p_time_ms integer, p_label_ids bigint[], p_paths text[],
                                                    p_rating integer, p_free_text text, p_preference text, p_ranking jsonb,
                                                    p_threshold double precision, p_history jsonb)
RETURNS SETOF annotation_annotation
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_is_gold boolean;
    v_gold text[];
    v_moved integer;
    v_row annotation_annotation%ROWTYPE;
    v_count integer;
    v_disagreement double precision;
BEGIN
    SELECT is_gold, ARRAY(SELECT x FROM jsonb_array_elements_text(gold_labels) x ORDER BY x COLLATE "C")
      INTO v_is_gold, v_gold FROM annotation_annotationtask WHERE id = p_task FOR UPDATE;
    UPDATE annotation_assignment SET status = 'submitted', finished_at = p_now
     WHERE id = p_assignment AND task_id = p_task AND annotator_id = p_annotator AND status = 'active' AND expires_at > p_now;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    IF v_moved = 0 THEN
        RETURN;
    END IF;
    INSERT INTO annotation_annotation (created_at, updated_at, task_id, assignment_id, annotator_id, annotator_kind,
                                       corrected_response, comment, rating, free_text, preference, ranking, time_spent_ms,
                                       gold_correct)
    VALUES (clock_timestamp(), clock_timestamp(), p_task, p_assignment, p_annotator, p_kind, p_correction, p_comment, p_rating,
            p_free_text, p_preference, p_ranking, p_time_ms,
            CASE WHEN v_is_gold THEN v_gold = ARRAY(SELECT x FROM unnest(p_paths) x ORDER BY x COLLATE "C") END)
    RETURNING * INTO v_row;
    INSERT INTO annotation_annotation_labels (annotation_id, label_id) SELECT v_row.id, unnest(p_label_ids);
    UPDATE annotation_annotationtask SET submitted_count = submitted_count + 1,
                                         is_complete = is_complete OR submitted_count + 1 >= p_overlap
     WHERE id = p_task RETURNING submitted_count INTO v_count;
    IF v_count >= p_overlap AND p_overlap > 1 THEN
        SELECT 1 - max(n)::double precision / sum(n) INTO v_disagreement FROM (
            SELECT count(*) AS n FROM (
                SELECT string_agg(l.label_id::text, ',' ORDER BY l.label_id) AS answer
                  FROM annotation_annotation_labels l JOIN annotation_annotation a ON a.id = l.annotation_id
                 WHERE a.task_id = p_task GROUP BY l.annotation_id) answers
             GROUP BY answer) counts;
        IF coalesce(v_disagreement, 0) > p_threshold THEN
            INSERT INTO annotation_review (created_at, updated_at, task_id, annotation_id, layer, status, sampled_because,
                                           reviewer_id, claimed_until, reason, decided_at)
            VALUES (clock_timestamp(), clock_timestamp(), p_task, NULL, 'disagreement', 'pending',
                    'disagreement ' || to_char(round(v_disagreement::numeric, 2), 'FM0.00'), NULL, NULL, '', NULL);
        END IF;
    END IF;
    INSERT INTO common_historyevent (created_at, actor_id, target_type, target_id, verb, before, after)
    VALUES (clock_timestamp(), p_annotator, 'annotation.annotation', v_row.id, 'submitted', NULL, p_history);
    RETURN NEXT v_row;
END
$fn$;
"""


OLD_SIGNATURE = ("bigint, bigint, integer, integer, timestamptz, text, text, text, integer, bigint[], text[], integer, text, text, "
                 "double precision, jsonb")
NEW_SIGNATURE = ("bigint, bigint, integer, integer, timestamptz, text, text, text, integer, bigint[], text[], integer, text, text, "
                 "jsonb, double precision, jsonb")


def replace_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS annotation_submit_record({OLD_SIGNATURE})", params=None)
        schema_editor.execute(SUBMIT_FUNCTION, params=None)


def restore_function(apps, schema_editor):
    # Going back, 0010's function must come back too (the column is removed after this runs).
    if schema_editor.connection.vendor == "postgresql":
        import importlib

        schema_editor.execute(f"DROP FUNCTION IF EXISTS annotation_submit_record({NEW_SIGNATURE})", params=None)
        old = importlib.import_module("annotation.migrations.0010_schema_pairwise")
        schema_editor.execute(old.SUBMIT_FUNCTION, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0012_ai_answer_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='annotation',
            name='ranking',
            field=models.JSONField(blank=True, default=list, help_text='a ranking item: its candidate entry ids, best first; empty otherwise'),
        ),
        migrations.AddField(
            model_name='annotationtask',
            name='candidates',
            field=models.JSONField(blank=True, default=list, help_text="a ranking item: the version entries (ids) of the answers to rank, 2 to 9, all to `entry`'s prompt, `entry` first; empty for an item of one record"),
        ),
        migrations.AddField(
            model_name='aianswer',
            name='ranking',
            field=models.JSONField(blank=True, default=list, help_text='a ranking item: its candidate entry ids, best first'),
        ),
        migrations.AddField(
            model_name='labelschema',
            name='ranking_question',
            field=models.CharField(blank=True, help_text='blank: no ranking; else its question: a project then groups the answers to one prompt into one item, and annotators rank them best first', max_length=300),
        ),
        migrations.AddField(
            model_name='label',
            name='examples',
            field=models.JSONField(blank=True, default=list, help_text='short texts that belong under the label'),
        ),
        migrations.AlterField(
            model_name='aiannotator',
            name='prompt_template',
            field=models.TextField(help_text='with {conversation} and {labels}, and {questions} when the schema asks more than labels'),
        ),
        migrations.RunPython(replace_function, restore_function),
    ]
