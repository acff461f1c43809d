-- annotation_claim: the queue's claim as one round trip to PostgreSQL.
--
-- The statements of annotation.services.queue_paths._claim_portable (the path used on SQLite), in the same order
-- and with the same locks: lock the annotator's row; keep their unexpired active leases in the project; while they
-- hold fewer than p_want, lock the first claimable task passing over locked rows (waiting for one only when every
-- candidate is locked), expire its stale leases, and lease its lowest free slot, writing the same "claimed" history
-- row. Returns the annotator's live leases in the project, oldest first.
--
-- Each statement of a PL/pgSQL function reads a fresh snapshot (READ COMMITTED), so the slot read after the task lock
-- sees every committed assignment, as the separate Python statements do. p_async_commit lets a claim that is its own
-- transaction skip the wait for the disk: a crash can then lose only the last moment's leases, and a lost lease is
-- an item offered again, never an answer lost.
--
-- annotation/sql/claim.sql is the current definition. A migration never reads it: each migration that installs
-- this function runs a frozen copy of its own under annotation/migrations/sql/ (see 0014_queue_sql_files.py), and
-- annotation/tests/test_sql_functions.py fails while the installed function differs from annotation/sql/claim.sql.
CREATE OR REPLACE FUNCTION annotation_claim(p_project bigint, p_annotator integer, p_overlap integer,
                                            p_lease_seconds integer, p_now timestamptz, p_want integer,
                                            p_async_commit boolean)
RETURNS SETOF annotation_assignment
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_held integer;
    v_task bigint;
    v_complete boolean;
    v_passed bigint[] := '{}';
    v_expired bigint[];
    v_slots integer[];
    v_mine boolean;
    v_slot integer;
    v_id bigint;
    v_expires timestamptz := p_now + make_interval(secs => p_lease_seconds);
BEGIN
    IF p_async_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM 1 FROM auth_user WHERE id = p_annotator FOR UPDATE;
    SELECT count(*) INTO v_held FROM annotation_assignment a JOIN annotation_annotationtask t ON t.id = a.task_id
     WHERE a.annotator_id = p_annotator AND a.status = 'active' AND a.expires_at > p_now AND t.project_id = p_project;
    WHILE v_held < p_want LOOP
        -- Scalar subqueries with LIMIT 1: one index probe per candidate row rather than an anti-join over every
        -- assignment.
        SELECT t.id INTO v_task FROM annotation_annotationtask t
         WHERE t.project_id = p_project AND NOT t.is_complete AND NOT (t.id = ANY (v_passed))
           AND (SELECT a.id FROM annotation_assignment a WHERE a.task_id = t.id AND a.annotator_id = p_annotator
                  AND (a.status IN ('submitted', 'skipped') OR (a.status = 'active' AND a.expires_at > p_now))
                LIMIT 1) IS NULL
           AND t.submitted_count + (SELECT count(*) FROM annotation_assignment a
                                     WHERE a.task_id = t.id AND a.status = 'active' AND a.expires_at > p_now)
               < p_overlap
         ORDER BY t.id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF v_task IS NULL THEN
            -- Every candidate is held by a claim or submit in flight (or none is left): wait for the first.
            SELECT t.id INTO v_task FROM annotation_annotationtask t
             WHERE t.project_id = p_project AND NOT t.is_complete AND NOT (t.id = ANY (v_passed))
               AND (SELECT a.id FROM annotation_assignment a WHERE a.task_id = t.id AND a.annotator_id = p_annotator
                      AND (a.status IN ('submitted', 'skipped') OR (a.status = 'active' AND a.expires_at > p_now))
                    LIMIT 1) IS NULL
               AND t.submitted_count + (SELECT count(*) FROM annotation_assignment a
                                         WHERE a.task_id = t.id AND a.status = 'active' AND a.expires_at > p_now)
                   < p_overlap
             ORDER BY t.id LIMIT 1 FOR UPDATE;
            EXIT WHEN v_task IS NULL;
        END IF;
        SELECT is_complete INTO v_complete FROM annotation_annotationtask WHERE id = v_task;
        IF NOT v_complete THEN
            -- expires_at is re-checked on the locked row, so a lease renewed a moment ago is left alone.
            WITH stale AS (
                UPDATE annotation_assignment SET status = 'expired', finished_at = p_now
                 WHERE task_id = v_task AND status = 'active' AND expires_at <= p_now RETURNING id)
            SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_expired FROM stale;
            SELECT coalesce(array_agg(slot), '{}'), coalesce(bool_or(annotator_id = p_annotator), false)
              INTO v_slots, v_mine
              FROM annotation_assignment WHERE task_id = v_task AND status IN ('active', 'submitted');
            IF NOT v_mine THEN
                SELECT min(s) INTO v_slot FROM generate_series(0, p_overlap - 1) s WHERE NOT (s = ANY (v_slots));
                IF v_slot IS NOT NULL THEN
                    INSERT INTO annotation_assignment (task_id, annotator_id, slot, status, claimed_at, expires_at,
                                                       finished_at, skip_reason)
                    VALUES (v_task, p_annotator, v_slot, 'active', clock_timestamp(), v_expires, NULL, '')
                    RETURNING id INTO v_id;
                    INSERT INTO common_historyevent (created_at, actor_id, target_type, target_id, verb, before, after)
                    VALUES (clock_timestamp(), p_annotator, 'annotation.assignment', v_id, 'claimed', NULL,
                            jsonb_build_object('task', v_task, 'slot', v_slot,
                                               'expires_at', to_char(v_expires AT TIME ZONE 'UTC',
                                                                     'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                                               'expired', to_jsonb(v_expired)));
                    v_held := v_held + 1;
                    CONTINUE;
                END IF;
            END IF;
        END IF;
        -- The candidate read an older snapshot than the lock: this task filled up meanwhile.
        v_passed := v_passed || v_task;
    END LOOP;
    RETURN QUERY SELECT a.* FROM annotation_assignment a JOIN annotation_annotationtask t ON t.id = a.task_id
     WHERE a.annotator_id = p_annotator AND a.status = 'active' AND a.expires_at > p_now AND t.project_id = p_project
     ORDER BY a.claimed_at, a.id;
END
$fn$;
