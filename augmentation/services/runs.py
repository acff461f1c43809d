"""Augmentation runs: create one over a version, and generate + filter its candidates (the job's work).

Only the train split of the version is read, so a validation or test record never gets children, and a child always
lands in its parent's split. Every method rewrites the prompt only (the last user turn); answers are never touched.
"""

from django.db import transaction
from django.utils import timezone

from augmentation import eda, filters, generation
from augmentation.models import AugmentationCandidate, AugmentationRun, JobStatus, SynonymTable
from common.errors import ApplicationError
from common.history import history_record
from common.paths import user_directory
from datahub.canonical import canonical_validate, content_hash
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.selectors import dataset_content_hashes_present, version_has_split, version_split_entries
from dedupe.embeddings import embedding_model_check, embedding_model_reads

Method = AugmentationRun.Method
OPTIONS_DEFAULT = {
    "seed": 0,
    "limit": 0,  # at most this many parents (0: every train record)
    "eda_variants": 4,  # variants per record; operations cycle through eda_operations
    "eda_alpha": 0.1,  # share of words each EDA edit changes
    "eda_operations": list(eda.OPERATIONS),  # add "shuffle" to also shuffle word order (off by default)
    "paraphrase_n": 2,  # paraphrases asked per record; the filters keep some, so 200 records give about 400 with N = 2
    "paraphrase_temperature": 0.9,
    "pivot_language": "German",
    "back_translation_engine": "llm",  # or "seq2seq" with the two directories below
    "seq2seq_forward_dir": "",
    "seq2seq_back_dir": "",
    "max_tokens": 256,
    **filters.THRESHOLDS_DEFAULT,
}
LLM_METHODS = {Method.PARAPHRASE, Method.BACK_TRANSLATION}
LOOKUP_CHUNK = 5000
PROGRESS_CHUNK = 50


def options_clean(methods: list[str], options: dict | None) -> dict:
    unknown = set(options or {}) - set(OPTIONS_DEFAULT)
    if unknown:
        raise ApplicationError(f"unknown option {sorted(unknown)[0]!r}", where="options")
    clean = {**OPTIONS_DEFAULT, **(options or {})}
    if not 0 < float(clean["eda_alpha"]) <= 0.5:
        raise ApplicationError("alpha must be above 0 and at most 0.5", where="eda_alpha")
    if not 1 <= int(clean["eda_variants"]) <= 16:
        raise ApplicationError("EDA variants per record must be between 1 and 16", where="eda_variants")
    if not 1 <= int(clean["paraphrase_n"]) <= 10:
        raise ApplicationError("paraphrases per record must be between 1 and 10", where="paraphrase_n")
    bad = set(clean["eda_operations"]) - set(eda.ALL_OPERATIONS)
    if bad or not clean["eda_operations"]:
        raise ApplicationError(
            f"EDA operations are chosen from {', '.join(eda.ALL_OPERATIONS)}", where="eda_operations"
        )
    if Method.BACK_TRANSLATION in methods and clean["back_translation_engine"] == "seq2seq":
        if not clean["seq2seq_forward_dir"] or not clean["seq2seq_back_dir"]:
            raise ApplicationError("seq2seq back-translation needs both model directories", where="seq2seq_forward_dir")
    elif clean["back_translation_engine"] not in ("llm", "seq2seq"):
        raise ApplicationError("the back-translation engine is llm or seq2seq", where="back_translation_engine")
    return clean


def augmentation_run_create(*, version: DatasetVersion, methods: list[str], options: dict | None = None, endpoint=None,
                            synonym_table: SynonymTable | None = None, created_by=None, embedding_model: str = "",
                            run_in_background: bool = True) -> AugmentationRun:
    """Queue a run over the train split of `version`. The job is enqueued after commit."""
    methods = list(dict.fromkeys(methods))
    if not methods or set(methods) - set(Method.values):
        raise ApplicationError(f"choose methods from {', '.join(Method.values)}", where="methods")
    clean = options_clean(methods, options)
    workspace_id = version.dataset.workspace_id
    needs_endpoint = Method.PARAPHRASE in methods or (
        Method.BACK_TRANSLATION in methods and clean["back_translation_engine"] == "llm"
    )
    if needs_endpoint and endpoint is None:
        raise ApplicationError("paraphrase and LLM back-translation need a model endpoint", where="endpoint")
    if endpoint is not None and endpoint.workspace_id != workspace_id:
        raise ApplicationError("the model endpoint belongs to another workspace", where="endpoint")
    if set(methods) & LLM_METHODS:
        embedding_model = embedding_model_check(workspace_id=workspace_id, name=embedding_model)
    if Method.BACK_TRANSLATION in methods and clean["back_translation_engine"] == "seq2seq":
        for key in ("seq2seq_forward_dir", "seq2seq_back_dir"):
            clean[key] = str(user_directory(workspace_id=workspace_id, path=clean[key], where=key))
    if synonym_table is not None and synonym_table.workspace_id != workspace_id:
        raise ApplicationError("the synonym table belongs to another workspace", where="synonym_table")
    if not version_has_split(version=version, split=VersionRecord.Split.TRAIN):
        raise ApplicationError("the version has no train records to augment", where="version")
    with transaction.atomic():
        run = AugmentationRun.objects.create(version=version, methods=methods, options=clean, endpoint=endpoint,
                                             synonym_table=synonym_table, created_by=created_by,
                                             embedding_model=embedding_model if set(methods) & LLM_METHODS else "")
        history_record(actor=created_by, target=run, verb="created", after={"version": version.pk, "methods": methods})
        if run_in_background:
            from augmentation.tasks import augmentation_run_execute_task

            transaction.on_commit(lambda: augmentation_run_execute_task.enqueue(run_id=run.pk))
    return run


# ---------------------------------------------------------------- the job's work


def last_user_turn(record: Record) -> str | None:
    """The last user turn of the prompt: what every method rewrites."""
    for message in reversed(record.prompt_messages):
        if message.get("role") == "user":
            return message.get("content") or ""
    return None


def child_row(record: Record, text: str) -> dict:
    """The parent's canonical row with its last user turn replaced by `text`."""
    messages = [dict(m) for m in record.messages]
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    messages[last_user]["content"] = text
    row = {"kind": record.kind, "messages": messages}
    for key in ("tools", "chosen", "rejected", "label"):
        if getattr(record, key) is not None:
            row[key] = getattr(record, key)
    return row


def _existing_hashes(dataset_id: int, hashes: set[str]) -> set[str]:
    found, hashes = set(), list(hashes)
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        found.update(dataset_content_hashes_present(dataset_id=dataset_id, hashes=hashes[start:start + LOOKUP_CHUNK]))
    return found


def _progress(run: AugmentationRun, processed: int) -> None:
    AugmentationRun.objects.filter(pk=run.pk).update(processed=processed, updated_at=timezone.now())


def _generate(run: AugmentationRun, parents: list[tuple[Record, str, str]], on_progress) -> list[tuple]:
    """(parent, split, method, operation, original, text) for every candidate, method by method."""
    options, out = run.options, []
    texts = [text for _, _, text in parents]
    steps = len(run.methods) * len(parents)
    done = 0
    for method in run.methods:
        for start in range(0, len(parents), PROGRESS_CHUNK):
            chunk, chunk_texts = parents[start:start + PROGRESS_CHUNK], texts[start:start + PROGRESS_CHUNK]
            if method == Method.EDA:
                user_entries = run.synonym_table.entries if run.synonym_table_id else None
                for (record, split, text) in chunk:
                    table = eda.table_for(text, user_entries)
                    for operation, new in eda.eda_variants(
                        text,
                        seed=options["seed"],
                        alpha=options["eda_alpha"],
                        variants=options["eda_variants"],
                        operations=options["eda_operations"],
                        table=table,
                    ):
                        out.append((record, split, method, operation, text, new))
            elif method == Method.PARAPHRASE:
                variants = generation.paraphrases_generate(
                    endpoint=run.endpoint,
                    texts=chunk_texts,
                    n=options["paraphrase_n"],
                    seed=options["seed"],
                    temperature=options["paraphrase_temperature"],
                    max_tokens=options["max_tokens"],
                    purpose=f"augmentation {run.pk} paraphrase",
                )
                for (record, split, text), news in zip(chunk, variants):
                    out.extend((record, split, method, f"variant {i + 1}", text, new) for i, new in enumerate(news))
            else:
                if options["back_translation_engine"] == "seq2seq":
                    backs = generation.back_translations_seq2seq(
                        forward_dir=options["seq2seq_forward_dir"],
                        back_dir=options["seq2seq_back_dir"],
                        texts=chunk_texts,
                        max_tokens=options["max_tokens"],
                    )
                else:
                    backs = generation.back_translations_llm(
                        endpoint=run.endpoint,
                        texts=chunk_texts,
                        pivot=options["pivot_language"],
                        seed=options["seed"],
                        max_tokens=options["max_tokens"],
                        purpose=f"augmentation {run.pk} back-translation",
                    )
                out.extend((record, split, method, options["pivot_language"], text, new)
                           for (record, split, text), new in zip(chunk, backs))
            done += len(chunk)
            on_progress(done, steps)
    return out


def candidates_filter(*, run: AugmentationRun, generated: list[tuple]) -> list[AugmentationCandidate]:
    """Unsaved candidates with their verdicts (see augmentation.filters for the order of the checks)."""
    options = run.options
    built = []
    for record, split, method, operation, original, text in generated:
        try:
            row = canonical_validate(child_row(record, text), where=f"record {record.pk}: ") if text.strip() else None
        except ApplicationError:
            row = None
        built.append((record, split, method, operation, original, text, row, content_hash(row) if row else None))
    existing = _existing_hashes(run.version.dataset_id, {b[7] for b in built if b[7]})
    # An English-only model's cosine of Chinese text says nothing (unrelated Chinese sentences score above 0.9), so
    # such candidates are not judged by it at all.
    readable = {(b[4], b[5]) for b in built if b[2] in LLM_METHODS and b[7] and b[7] not in existing
                and embedding_model_reads(b[4], model_name=run.embedding_model or None)
                and embedding_model_reads(b[5], model_name=run.embedding_model or None)}
    needs_cosine = sorted(readable)
    cosine_of = dict(zip(needs_cosine, generation_cosines(needs_cosine, run.embedding_model)))
    seen: set[str] = set()
    kept: dict[int, list[str]] = {}
    candidates = []
    for record, split, method, operation, original, text, row, digest in built:
        verdict = filters.verdict_dedupe(
            original=original, text=text, content_hash=digest, existing_hashes=existing, seen_hashes=seen
        )
        if verdict is None and method in LLM_METHODS and (original, text) not in cosine_of:
            verdict = filters.Verdict("unreadable")
        elif verdict is None and method == Method.BACK_TRANSLATION:
            verdict = filters.verdict_back_translation(
                original=original, text=text, cosine=cosine_of[original, text], thresholds=options
            )
        elif verdict is None and method == Method.PARAPHRASE:
            verdict = filters.verdict_paraphrase(original=original, text=text, cosine=cosine_of[original, text],
                                                 kept=kept.setdefault(record.pk, [original]), thresholds=options)
        elif verdict is None:
            verdict = filters.Verdict(filters.KEPT)
        if (
            not verdict.is_passing
            and digest in seen
            and verdict.reason not in ("duplicate_candidate", "duplicate_original")
        ):
            # A candidate the method's rule refused must not block a later identical one that might pass.
            seen.discard(digest)
        candidates.append(
            AugmentationCandidate(
                run=run,
                parent=record,
                split=split,
                method=method,
                operation=operation,
                original_text=original,
                text=text,
                row=row or {},
                content_hash=digest or "",
                scores=verdict.scores,
                is_passing=verdict.is_passing,
                reason=verdict.reason,
            )
        )
    return candidates


def generation_cosines(pairs: list[tuple[str, str]], model_name: str) -> list[float]:
    from augmentation.text import cosines

    return cosines(pairs, model_name=model_name or None) if pairs else []


def augmentation_run_execute(*, run: AugmentationRun, on_progress=None) -> AugmentationRun:
    """Generate and filter the run's candidates. Idempotent: a run that is not queued is left as it is; model calls
    are cached, so running a failed run again (after augmentation_run_retry) pays only for what was missing."""
    claimed = AugmentationRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return AugmentationRun.objects.get(pk=run.pk)
    run.refresh_from_db()
    try:
        entries = version_split_entries(version=run.version, split=VersionRecord.Split.TRAIN)
        parents = []
        for entry in entries.iterator(chunk_size=2000):
            text = last_user_turn(entry.record)
            if text and text.strip():
                parents.append((entry.record, entry.split, text))
        if run.options.get("limit"):
            parents = parents[:int(run.options["limit"])]
        AugmentationRun.objects.filter(pk=run.pk).update(total=len(run.methods) * len(parents))

        def report(done: int, total: int) -> None:
            _progress(run, done)
            if on_progress:
                on_progress(done, total)

        if run.embedding_model == "" and set(run.methods) & LLM_METHODS:
            from augmentation.text import embedding_model_default

            run.embedding_model = embedding_model_default()
        candidates = candidates_filter(run=run, generated=_generate(run, parents, report))
    except Exception as exc:  # noqa: BLE001 - any failure ends the run with its reason; nothing was written
        AugmentationRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        run.refresh_from_db()
        return run
    with transaction.atomic():
        AugmentationCandidate.objects.filter(run=run).delete()
        AugmentationCandidate.objects.bulk_create(candidates, batch_size=1000)
        passing = sum(c.is_passing for c in candidates)
        AugmentationRun.objects.filter(pk=run.pk).update(
            status=JobStatus.SUCCEEDED,
            candidate_count=len(candidates),
            passing_count=passing,
            embedding_model=run.embedding_model,
            processed=run.total if run.total else 0,
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        history_record(
            actor=None, target=run, verb="generated", after={"candidates": len(candidates), "passing": passing}
        )
    return run


@transaction.atomic
def augmentation_run_retry(*, run: AugmentationRun, actor=None, run_in_background: bool = True) -> AugmentationRun:
    """Queue a failed run again; its model calls that succeeded before come from the cache."""
    run = AugmentationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != JobStatus.FAILED:
        raise ApplicationError("only a failed run can be retried", where="status")
    run.status, run.error, run.processed = JobStatus.QUEUED, "", 0
    run.save(update_fields=["status", "error", "processed", "updated_at"])
    history_record(actor=actor, target=run, verb="retried")
    if run_in_background:
        from augmentation.tasks import augmentation_run_execute_task

        transaction.on_commit(lambda: augmentation_run_execute_task.enqueue(run_id=run.pk))
    return run


def augmentation_of_dataset_delete(*, dataset) -> None:
    """Delete the augmentation and mix runs made on the dataset and the grades of its records; called by datahub's
    dataset_delete inside its transaction, after it has checked that nothing is under way."""
    from augmentation.models import MixRun, RecordGrade

    AugmentationRun.objects.filter(version__dataset=dataset).delete()
    MixRun.objects.filter(dataset=dataset).delete()
    RecordGrade.objects.filter(record__dataset=dataset).delete()
