"""Significance of every comparison between arms over the REST API (study.view_results)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation.access import access_study
from evaluation.selectors import study_arms, study_vote_rows
from evaluation.significance import study_metric_comparisons, study_support_by_prompt_label


class PairedDifferenceSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    candidate = serializers.FloatField(allow_null=True)
    baseline = serializers.FloatField(allow_null=True)
    difference = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="MetricComparison")
class MetricComparisonSerializer(serializers.Serializer):
    candidate_id = serializers.IntegerField()
    candidate = serializers.CharField()
    metric = serializers.CharField()
    difference = PairedDifferenceSerializer()
    p_adjusted = serializers.FloatField(allow_null=True, help_text="Holm-adjusted over the candidates")
    significant = serializers.BooleanField(allow_null=True)
    direction = serializers.CharField()


class LabelMetricsSerializer(serializers.Serializer):
    label = serializers.CharField()
    prompts = serializers.IntegerField()
    comparisons = MetricComparisonSerializer(many=True)
    helped = serializers.DictField(child=serializers.CharField())


class LabelSupportSerializer(serializers.Serializer):
    label = serializers.CharField()
    candidate_id = serializers.IntegerField()
    candidate = serializers.CharField()
    votes = serializers.IntegerField(source="summary.votes")
    support_rate = serializers.FloatField(source="summary.support_rate", allow_null=True)
    interval_low = serializers.FloatField(source="summary.interval_low", allow_null=True)
    interval_high = serializers.FloatField(source="summary.interval_high", allow_null=True)
    sign_test_p = serializers.FloatField(source="summary.sign_test_p", allow_null=True)
    p_adjusted = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField(allow_null=True)
    helped = serializers.CharField()


@extend_schema_serializer(component_name="StudySignificance")
class SignificanceSerializer(serializers.Serializer):
    significance_level = serializers.FloatField(source="metrics.significance_level")
    resamples = serializers.IntegerField(source="metrics.resamples")
    label_like = serializers.BooleanField(source="metrics.label_like")
    metrics = MetricComparisonSerializer(source="metrics.comparisons", many=True)
    metrics_by_label = LabelMetricsSerializer(source="metrics.labels", many=True)
    support_by_label = LabelSupportSerializer(many=True)


class StudySignificanceApi(APIView):
    """Each candidate against the baseline on the automatic metrics (paired bootstrap, Holm), overall and per prompt
    label, and a pairwise study's support rate per prompt label with whether the data helped (study.view_results)."""

    @extend_schema(responses=SignificanceSerializer)
    def get(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.view_results",))
        arms = study_arms(study=study)
        support = [] if study.kind == "rating" else study_support_by_prompt_label(
            study=study, arms=arms, rows=study_vote_rows(study=study))
        data = {"metrics": study_metric_comparisons(study=study, arms=arms), "support_by_label": support}
        return Response(SignificanceSerializer(data).data)
