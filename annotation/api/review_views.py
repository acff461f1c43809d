"""Annotation API for the layers above labelling: the project's layer settings, and the re-check, spot-check and
disagreement queues (claim a check, decide it)."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import MANAGE, access_project, access_review
from annotation.selectors import review_item
from annotation.services import annotation_project_layers_set, review_claim_next, review_decide
from annotation.services.reviews import CAPABILITY_BY_LAYER


class ProjectLayersApi(APIView):
    """Set the project's layers: review, spot-check and gold rates, disagreement threshold, blind mode, labelling pools,
    and the mode (human_only, ai_assists or ai_first; left out: unchanged)."""

    class InputSerializer(serializers.Serializer):
        review_rate = serializers.FloatField()
        spot_check_rate = serializers.FloatField()
        gold_rate = serializers.FloatField()
        disagreement_threshold = serializers.FloatField()
        blind = serializers.BooleanField()
        label_pools = serializers.ListField(child=serializers.CharField(), allow_empty=True)
        # A plain string: the service names the allowed values in its error.
        mode = serializers.CharField(required=False)

        class Meta:
            ref_name = "AnnotationLayersInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        review_rate = serializers.FloatField()
        spot_check_rate = serializers.FloatField()
        gold_rate = serializers.FloatField()
        disagreement_threshold = serializers.FloatField()
        blind = serializers.BooleanField()
        label_pools = serializers.ListField(child=serializers.CharField())
        mode = serializers.CharField()
        gold_items = serializers.SerializerMethodField()

        class Meta:
            ref_name = "AnnotationLayersOutput"

        def get_gold_items(self, project) -> int:
            return project.tasks.filter(is_gold=True).count()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE,))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = annotation_project_layers_set(project=project, set_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(project).data)


class AnswerSerializer(serializers.Serializer):
    annotation_id = serializers.IntegerField()
    annotator = serializers.CharField()
    annotator_kind = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    corrected_response = serializers.CharField()
    comment = serializers.CharField()


class ReviewItemOutputSerializer(serializers.Serializer):
    review_id = serializers.IntegerField(source="review.pk")
    layer = serializers.CharField(source="review.layer")
    status = serializers.CharField(source="review.status")
    sampled_because = serializers.CharField(source="review.sampled_because")
    claimed_until = serializers.DateTimeField(source="review.claimed_until")
    task_id = serializers.IntegerField(source="review.task_id")
    conversation = serializers.JSONField(source="record.messages")
    response = serializers.CharField()
    answers = AnswerSerializer(many=True)
    labels = serializers.SerializerMethodField()

    def get_labels(self, item) -> list[dict]:
        return [asdict(node) for node in item.labels]


class ReviewClaimApi(APIView):
    """Take the next pending check of a layer: 200 with the check, or 204 when none is left for the caller."""

    class InputSerializer(serializers.Serializer):
        layer = serializers.ChoiceField(choices=list(CAPABILITY_BY_LAYER))

        class Meta:
            ref_name = "ReviewClaimInput"

    OutputSerializer = ReviewItemOutputSerializer

    @extend_schema(request=InputSerializer, responses={200: ReviewItemOutputSerializer, 204: None})
    def post(self, request, project_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        layer = data.validated_data["layer"]
        project = access_project(request.user, project_id, capabilities=(CAPABILITY_BY_LAYER[layer],))
        review = review_claim_next(project=project, reviewer=request.user, layer=layer)
        if review is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.OutputSerializer(review_item(review=review, project=project)).data)


class ReviewDecideApi(APIView):
    """Accept, reject (with a reason) or fix (with the right labels) a check the caller holds."""

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=["accept", "reject", "fix"])
        reason = serializers.CharField(default="", allow_blank=True)
        label_ids = serializers.ListField(child=serializers.IntegerField(), required=False, allow_empty=True)

        class Meta:
            ref_name = "ReviewDecideInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        layer = serializers.CharField()
        status = serializers.CharField()
        reason = serializers.CharField()
        fixed_labels = serializers.SerializerMethodField()
        decided_at = serializers.DateTimeField()

        class Meta:
            ref_name = "ReviewDecideOutput"

        def get_fixed_labels(self, review) -> list[str]:
            return sorted(label.path for label in review.fixed_labels.all())

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request, review_id: int):
        review = access_review(request.user, review_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = review_decide(review=review, reviewer=request.user, **data.validated_data)
        return Response(self.OutputSerializer(decided).data)
