-- annotation_submit_record: the locked part of a submit as one round trip to PostgreSQL.
--
-- The statements of annotation.services.queue_paths._submit_portable (the path used on SQLite), in the same order:
-- lock the task; move the assignment to submitted only if it is the annotator's, active and unexpired (no row
-- returned otherwise: the caller explains why); insert the annotation with its answers (a gold item scored by
-- comparing the sorted label paths) and its labels; count it on the task, completing it at p_overlap; on completing
-- a multi-annotated item, open an expert check when the disagreement (1 - the share of the most common label set) is
-- above p_threshold; write the "submitted" history row the caller built (p_history). Returns the annotation row.
-- Sampling re-checks and spot checks stays in Python (seeded by the annotation id), in the same transaction.
--
-- annotation/sql/submit.sql is the current definition. A migration never reads it: each migration that installs
-- this function runs a frozen copy of its own under annotation/migrations/sql/ (see 0014_queue_sql_files.py), and
-- annotation/tests/test_sql_functions.py fails while the installed function differs from annotation/sql/submit.sql.
CREATE OR REPLACE FUNCTION annotation_submit_record(p_task bigint, p_assignment bigint, p_annotator integer,
                                                    p_overlap integer, p_now timestamptz, p_kind text,
                                                    p_correction text, p_comment text, p_time_ms integer,
                                                    p_label_ids bigint[], p_paths text[], p_rating integer,
                                                    p_free_text text, p_preference text, p_ranking jsonb,
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
     WHERE id = p_assignment AND task_id = p_task AND annotator_id = p_annotator AND status = 'active'
       AND expires_at > p_now;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    IF v_moved = 0 THEN
        RETURN;
    END IF;
    INSERT INTO annotation_annotation (created_at, updated_at, task_id, assignment_id, annotator_id, annotator_kind,
                                       corrected_response, comment, rating, free_text, preference, ranking,
                                       time_spent_ms, gold_correct)
    VALUES (clock_timestamp(), clock_timestamp(), p_task, p_assignment, p_annotator, p_kind, p_correction, p_comment,
            p_rating, p_free_text, p_preference, p_ranking, p_time_ms,
            CASE WHEN v_is_gold THEN v_gold = ARRAY(SELECT x FROM unnest(p_paths) x ORDER BY x COLLATE "C") END)
    RETURNING * INTO v_row;
    INSERT INTO annotation_annotation_labels (annotation_id, label_id) SELECT v_row.id, unnest(p_label_ids);
    UPDATE annotation_annotationtask SET submitted_count = submitted_count + 1,
                                         is_complete = is_complete OR submitted_count + 1 >= p_overlap
     WHERE id = p_task RETURNING submitted_count INTO v_count;
    -- The disagreement rule; its Python twin is queue_paths.disagreement_review (test_queue_paths compares them).
    IF v_count >= p_overlap AND p_overlap > 1 THEN
        SELECT 1 - max(n)::double precision / sum(n) INTO v_disagreement FROM (
            SELECT count(*) AS n FROM (
                SELECT string_agg(l.label_id::text, ',' ORDER BY l.label_id) AS answer
                  FROM annotation_annotation_labels l JOIN annotation_annotation a ON a.id = l.annotation_id
                 WHERE a.task_id = p_task GROUP BY l.annotation_id) answers
             GROUP BY answer) counts;
        IF coalesce(v_disagreement, 0) > p_threshold THEN
            INSERT INTO annotation_review (created_at, updated_at, task_id, annotation_id, layer, status,
                                           sampled_because, reviewer_id, claimed_until, reason, decided_at)
            VALUES (clock_timestamp(), clock_timestamp(), p_task, NULL, 'disagreement', 'pending',
                    'disagreement ' || to_char(round(v_disagreement::numeric, 2), 'FM0.00'), NULL, NULL, '', NULL);
        END IF;
    END IF;
    INSERT INTO common_historyevent (created_at, actor_id, target_type, target_id, verb, before, after)
    VALUES (clock_timestamp(), p_annotator, 'annotation.annotation', v_row.id, 'submitted', NULL, p_history);
    RETURN NEXT v_row;
END
$fn$;
