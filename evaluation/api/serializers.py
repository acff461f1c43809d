"""The shapes the evaluation API answers with, shared by its views and the study_report command.

The results are serialised straight from the selectors' objects (evaluation.selectors.StudyReport and what it holds):
the figures are shaped once, there, and the pages format the same objects with template filters.
"""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers


class StudySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    question = serializers.CharField()
    workspace = serializers.IntegerField(source="workspace_id")
    workspace_name = serializers.CharField(source="workspace.name")
    status = serializers.CharField()
    kind = serializers.CharField()
    progress = serializers.FloatField()
    created_at = serializers.DateTimeField()


class StudyCountsSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    comparisons = serializers.IntegerField()
    identical = serializers.IntegerField()
    gold = serializers.IntegerField()
    repeats = serializers.IntegerField()
    votes = serializers.IntegerField()
    counted_votes = serializers.IntegerField()


class ArmSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_baseline = serializers.BooleanField()
    model_kind = serializers.CharField()
    model_id = serializers.IntegerField()
    model_name = serializers.CharField()


@extend_schema_serializer(component_name="RaterAgreement")
class AgreementSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    pairs = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    decisive_pairs = serializers.IntegerField()
    decisive_agreement = serializers.FloatField(allow_null=True)
    alpha = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="LengthControl")
class LengthControlSerializer(serializers.Serializer):
    votes = serializers.IntegerField()
    raw_rate = serializers.FloatField(allow_null=True)
    controlled_rate = serializers.FloatField(allow_null=True)
    length_coefficient = serializers.FloatField(allow_null=True)
    unequal_votes = serializers.IntegerField()
    longer_won_rate = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="LabelResult")
class LabelResultSerializer(serializers.Serializer):
    """One evaluation.selectors.LabelResult: a vote label and the figures of its votes."""

    label = serializers.CharField()
    wins = serializers.IntegerField(source="summary.wins")
    losses = serializers.IntegerField(source="summary.losses")
    ties = serializers.IntegerField(source="summary.ties")
    both_bad = serializers.IntegerField(source="summary.both_bad")
    votes = serializers.IntegerField(source="summary.votes")
    support_rate = serializers.FloatField(source="summary.support_rate", allow_null=True)
    interval_low = serializers.FloatField(source="summary.interval_low", allow_null=True)
    interval_high = serializers.FloatField(source="summary.interval_high", allow_null=True)


@extend_schema_serializer(component_name="RaterReliability")
class RaterReliabilitySerializer(serializers.Serializer):
    rater_id = serializers.IntegerField()
    username = serializers.CharField()
    votes = serializers.IntegerField()
    counted_votes = serializers.IntegerField()
    gold_votes = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_low = serializers.FloatField(allow_null=True)
    gold_high = serializers.FloatField(allow_null=True)
    repeats = serializers.IntegerField()
    repeats_consistent = serializers.IntegerField()
    consistency = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)
    majority_votes = serializers.IntegerField()
    majority_agreement = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    excluded = serializers.BooleanField()
    exclusion_reason = serializers.CharField()


@extend_schema_serializer(component_name="StudyResults")
class SimulatedVotesSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="the common.simulation rule that cast these votes")
    votes = serializers.IntegerField()


class StudyReportSerializer(serializers.Serializer):
    """An evaluation.selectors.StudyReport."""

    @extend_schema_serializer(component_name="StudyResultsStudy")
    class StudySerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        status = serializers.CharField()
        question = serializers.CharField()
        labels = serializers.ListField(child=serializers.CharField())
        gold_rate = serializers.FloatField()
        repeat_rate = serializers.FloatField()
        gold_threshold = serializers.FloatField()

    @extend_schema_serializer(component_name="StudyResult")
    class ResultSerializer(serializers.Serializer):
        """One evaluation.selectors.CandidateResult: its summary's figures side by side with the vote-level ones."""

        @extend_schema_serializer(component_name="StudyVerdict")
        class VerdictSerializer(serializers.Serializer):
            band = serializers.CharField()
            leaning = serializers.CharField(allow_null=True)
            is_conclusive = serializers.BooleanField()
            votes_needed = serializers.IntegerField(allow_null=True)
            text = serializers.CharField()

        baseline = serializers.CharField(source="baseline.name")
        candidate = serializers.CharField(source="candidate.name")
        wins = serializers.IntegerField(source="summary.wins")
        losses = serializers.IntegerField(source="summary.losses")
        ties = serializers.IntegerField(source="summary.ties")
        both_bad = serializers.IntegerField(source="summary.both_bad")
        votes = serializers.IntegerField(source="summary.votes")
        decisive = serializers.IntegerField(source="summary.decisive")
        support_rate = serializers.FloatField(source="summary.support_rate", allow_null=True)
        win_rate = serializers.FloatField(source="summary.win_rate", allow_null=True)
        decisive_win_rate = serializers.FloatField(source="summary.decisive_win_rate", allow_null=True)
        interval_low = serializers.FloatField(source="summary.interval_low", allow_null=True)
        interval_high = serializers.FloatField(source="summary.interval_high", allow_null=True)
        sign_test_p = serializers.FloatField(source="summary.sign_test_p", allow_null=True)
        verdict = VerdictSerializer(source="summary.verdict")
        bootstrap_low = serializers.FloatField(allow_null=True)
        bootstrap_high = serializers.FloatField(allow_null=True)
        agreement = AgreementSerializer()
        length = LengthControlSerializer()
        labels = LabelResultSerializer(source="label_results", many=True)

    @extend_schema_serializer(component_name="ArmRating")
    class RatingSerializer(serializers.Serializer):
        arm = serializers.CharField(source="model.name")
        rating = serializers.FloatField()
        low = serializers.FloatField()
        high = serializers.FloatField()
        rank = serializers.IntegerField()
        votes = serializers.IntegerField()

    @extend_schema_serializer(component_name="ArmMetrics")
    class MetricsSerializer(serializers.Serializer):
        arm = serializers.CharField(source="arm.name")
        count = serializers.IntegerField(source="metrics.count")
        exact_match = serializers.FloatField(source="metrics.exact_match", allow_null=True)
        bleu = serializers.FloatField(source="metrics.bleu", allow_null=True)
        rouge_l = serializers.FloatField(source="metrics.rouge_l", allow_null=True)

    @extend_schema_serializer(component_name="JudgeResult")
    class JudgeSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="JudgeCandidateResult")
        class CandidateSerializer(serializers.Serializer):
            candidate = serializers.CharField(source="arm.name")
            support_rate = serializers.FloatField(source="summary.support_rate", allow_null=True)
            interval_low = serializers.FloatField(source="summary.interval_low", allow_null=True)
            interval_high = serializers.FloatField(source="summary.interval_high", allow_null=True)
            votes = serializers.IntegerField(source="summary.votes")

        id = serializers.IntegerField(source="judge.pk")
        endpoint = serializers.CharField(source="judge.endpoint.name")
        status = serializers.CharField(source="judge.status")
        error = serializers.CharField(source="judge.error")
        verdicts = serializers.IntegerField()
        invalid = serializers.IntegerField()
        flipped = serializers.IntegerField()
        candidates = CandidateSerializer(many=True)
        human_pairs = serializers.IntegerField()
        human_agreement = serializers.FloatField(allow_null=True)
        human_decisive_pairs = serializers.IntegerField()
        human_decisive_agreement = serializers.FloatField(allow_null=True)

    study = StudySerializer()
    arms = ArmSerializer(source="arm_rows", many=True)
    counts = StudyCountsSerializer()
    results = ResultSerializer(many=True)
    ranking = RatingSerializer(many=True)
    metrics = MetricsSerializer(many=True)
    judges = JudgeSerializer(many=True)
    raters = RaterReliabilitySerializer(many=True, help_text="every rater's reliability; gold and repeat votes are "
                                        "not in the results, nor the votes of excluded raters")
    simulated_votes = SimulatedVotesSerializer(
        many=True, help_text="votes cast by a stated rule, not a person (the demo)"
    )
