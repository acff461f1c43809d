"""Production feedback API: ingest (ingest tokens), sources and tokens, events, datasets and support rates (user
tokens).

One view per operation; the services hold the rules, access.py the permission checks.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from common.api import paginated
from datahub.selectors import dataset_in_workspace
from feedback.access import MANAGE, VIEW, access_feedback_source, access_feedback_token, access_feedback_workspace
from feedback.authentication import IngestTokenAuthentication
from feedback.models import PII_KINDS, FeedbackEvent, FeedbackIngestToken
from feedback.selectors import feedback_events_for, feedback_sources_for, feedback_support_rates
from feedback.services import (
    feedback_dataset_build,
    feedback_events_ingest,
    feedback_source_create,
    feedback_source_settings_update,
    feedback_token_create,
    feedback_token_revoke,
)
from feedback.services.ingest import ACCEPTED, BATCH_MAX, DUPLICATE, REJECTED, RateLimited

# The endpoint's own bound on a body (common.api.JSONParser reads it): 5,000 events with long conversations fit, a
# runaway client does not.
BODY_MAX_BYTES = 64 * 1024 * 1024


def page_of(serializer_class, name: str):
    return inline_serializer(name=name, fields={
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": serializer_class(many=True)})


class FeedbackEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    idempotency_key = serializers.CharField()
    kind = serializers.CharField()
    messages = serializers.JSONField()
    responses = serializers.JSONField()
    chosen_index = serializers.IntegerField(allow_null=True)
    edited_text = serializers.CharField()
    comment = serializers.CharField()
    model = serializers.CharField()
    prompt_version = serializers.CharField()
    app_id = serializers.CharField()
    session_id = serializers.CharField()
    user_id = serializers.CharField(source="user_ref")
    metadata = serializers.JSONField()
    pii_replaced = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class FeedbackEventsApi(APIView):
    """POST: store a batch of events (an ingest token, or a member's token with feedback.manage naming `source`).
    GET: the events the caller may see, newest first (`source`, `kind` filter)."""

    authentication_classes = [IngestTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]  # checked below: an ingest token has no user
    json_body_max_bytes = BODY_MAX_BYTES

    class InputSerializer(serializers.Serializer):
        source = serializers.IntegerField(
            required=False, help_text="needed with a user token; with an ingest token, its own source or nothing"
        )
        events = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=BATCH_MAX)

    class OutputSerializer(serializers.Serializer):
        source = serializers.IntegerField()
        accepted = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        rejected = serializers.IntegerField()
        statuses = serializers.ListField(child=serializers.ChoiceField([ACCEPTED, DUPLICATE, REJECTED]))
        errors = serializers.ListField(child=serializers.DictField())

    def _source(self, request, body: dict):
        wanted = body.get("source")
        if isinstance(request.auth, FeedbackIngestToken):
            source = request.auth.source
            if wanted is not None and str(wanted) != str(source.pk):
                raise exceptions.PermissionDenied("this ingest token writes to its own source only")
            return source
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        if wanted is None:
            raise exceptions.ValidationError({"source": ["required with a user token: the id of the feedback source"]})
        return access_feedback_source(request.user, wanted, capability=MANAGE)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 413: None, 429: None})
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > BODY_MAX_BYTES:
            return Response(
                {
                    "detail": f"the request body is {length} bytes; the limit is {BODY_MAX_BYTES}: "
                    "send smaller batches",
                    "where": "events",
                    "code": "too_large",
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        body = request.data if isinstance(request.data, dict) else {}
        source = self._source(request, body)
        # The batch is checked event by event by the service (one bad event must not sink the others), so the
        # serializer-level list checks are done by hand here rather than by InputSerializer.
        try:
            result = feedback_events_ingest(source=source, events=body.get("events"))
        except RateLimited as limited:
            return Response({"detail": limited.message, "where": limited.where, "code": limited.code,
                             "retry_after": limited.retry_after}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(limited.retry_after)})
        return Response({"source": source.pk, "accepted": result.count(ACCEPTED), "duplicates": result.count(DUPLICATE),
                         "rejected": result.count(REJECTED), "statuses": result.statuses, "errors": result.errors})

    @extend_schema(responses={200: page_of(FeedbackEventOutputSerializer, "FeedbackEventPage")})
    def get(self, request):
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        source = (
            access_feedback_source(request.user, request.query_params["source"])
            if request.query_params.get("source")
            else None
        )
        kind = request.query_params.get("kind")
        if kind and kind not in FeedbackEvent.Kind.values:
            raise exceptions.ValidationError({"kind": [f"unknown kind {kind!r}"]})
        return paginated(
            self, feedback_events_for(user=request.user, source=source, kind=kind), FeedbackEventOutputSerializer
        )


class FeedbackSourceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace_id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    description = serializers.CharField()
    pii_scrub = serializers.BooleanField()
    pii_kinds = serializers.ListField(child=serializers.CharField())
    rate_limit_per_minute = serializers.IntegerField()
    live_tokens = serializers.IntegerField(required=False)
    created_at = serializers.DateTimeField()


class FeedbackSourcesApi(APIView):
    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(default="", allow_blank=True)
        pii_scrub = serializers.BooleanField(default=True)
        pii_kinds = serializers.ListField(child=serializers.ChoiceField(PII_KINDS), default=list(PII_KINDS))
        rate_limit_per_minute = serializers.IntegerField(default=600_000, min_value=0)

    class OutputSerializer(FeedbackSourceOutputSerializer):
        token = serializers.CharField(help_text="the ingest token: shown this once, never again")
        token_id = serializers.IntegerField()

    @extend_schema(responses={200: page_of(FeedbackSourceOutputSerializer, "FeedbackSourcePage")})
    def get(self, request):
        return paginated(self, feedback_sources_for(user=request.user), FeedbackSourceOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        workspace = access_feedback_workspace(request.user, fields.pop("workspace"), capability=MANAGE)
        source = feedback_source_create(workspace=workspace, created_by=request.user, **fields)
        token, key = feedback_token_create(source=source, created_by=request.user)
        source.token, source.token_id, source.live_tokens = key, token.pk, 1
        return Response(self.OutputSerializer(source).data, status=status.HTTP_201_CREATED)


class FeedbackSourceSettingsApi(APIView):
    class InputSerializer(serializers.Serializer):
        pii_scrub = serializers.BooleanField()
        pii_kinds = serializers.ListField(child=serializers.ChoiceField(PII_KINDS), allow_empty=True)
        rate_limit_per_minute = serializers.IntegerField(min_value=0)

    OutputSerializer = FeedbackSourceOutputSerializer

    @extend_schema(request=InputSerializer, responses={200: FeedbackSourceOutputSerializer})
    def post(self, request, source_id: int):
        source = access_feedback_source(request.user, source_id, capability=MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = feedback_source_settings_update(source=source, updated_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(source).data)


class FeedbackTokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class FeedbackTokenCreateApi(APIView):
    class OutputSerializer(FeedbackTokenOutputSerializer):
        token = serializers.CharField(help_text="shown this once, never again")

    @extend_schema(request=None, responses={201: OutputSerializer})
    def post(self, request, source_id: int):
        source = access_feedback_source(request.user, source_id, capability=MANAGE)
        token, key = feedback_token_create(source=source, created_by=request.user)
        token.token = key
        return Response(self.OutputSerializer(token).data, status=status.HTTP_201_CREATED)


class FeedbackTokenRevokeApi(APIView):
    OutputSerializer = FeedbackTokenOutputSerializer

    @extend_schema(request=None, responses={200: FeedbackTokenOutputSerializer})
    def post(self, request, token_id: int):
        token = feedback_token_revoke(token=access_feedback_token(request.user, token_id), revoked_by=request.user)
        return Response(self.OutputSerializer(token).data)


class FeedbackDatasetBuildApi(APIView):
    """Turn events into a dataset version (DPO pairs, KTO rows, SFT records) and open review for conflicts."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        dataset_name = serializers.CharField(max_length=200, required=False, default="")
        dataset = serializers.IntegerField(required=False, help_text="add to this dataset instead of creating one")
        sources = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        since = serializers.DateTimeField(required=False, allow_null=True, default=None)
        until = serializers.DateTimeField(required=False, allow_null=True, default=None)
        review = serializers.BooleanField(default=True)
        seed = serializers.IntegerField(default=0)

    class OutputSerializer(serializers.Serializer):
        dataset_id = serializers.IntegerField(source="version.dataset_id")
        version_id = serializers.IntegerField(source="version.pk")
        version_number = serializers.IntegerField(source="version.number")
        operation = serializers.CharField(source="version.operation")
        split_counts = serializers.JSONField(source="version.counts")
        counts = serializers.JSONField()
        review_project_id = serializers.IntegerField(source="review_project.pk", allow_null=True, default=None)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        workspace = access_feedback_workspace(request.user, fields["workspace"], capability=MANAGE)
        sources = [access_feedback_source(request.user, pk, capability=MANAGE) for pk in fields["sources"]]
        dataset = None
        if fields.get("dataset") is not None:
            dataset = dataset_in_workspace(workspace=workspace, dataset_id=fields["dataset"])
            if dataset is None:
                raise exceptions.NotFound()
        export = feedback_dataset_build(
            workspace=workspace,
            dataset_name=fields["dataset_name"],
            dataset=dataset,
            sources=sources,
            since=fields["since"],
            until=fields["until"],
            review=fields["review"],
            seed=fields["seed"],
            created_by=request.user,
        )
        return Response(self.OutputSerializer(export).data, status=status.HTTP_201_CREATED)


class FeedbackSupportRatesApi(APIView):
    """Per model: win share among the N candidates shown and the pairwise online support rate, with Wilson intervals."""

    class OutputSerializer(serializers.Serializer):
        model = serializers.CharField()
        shown = serializers.IntegerField()
        chosen = serializers.IntegerField()
        win_share = serializers.FloatField()
        win_low = serializers.FloatField()
        win_high = serializers.FloatField()
        wins = serializers.IntegerField()
        losses = serializers.IntegerField()
        support_rate = serializers.FloatField(allow_null=True)
        support_low = serializers.FloatField(allow_null=True)
        support_high = serializers.FloatField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request):
        workspace = access_feedback_workspace(request.user, request.query_params.get("workspace"), capability=VIEW)
        return Response(self.OutputSerializer(feedback_support_rates(workspace=workspace), many=True).data)


@extend_schema_view(get=extend_schema(exclude=True), post=extend_schema(exclude=True))
class FeedbackEventsSlashApi(FeedbackEventsApi):
    """/feedback/events/ with a trailing slash, for clients that add one (a POST cannot be redirected)."""
