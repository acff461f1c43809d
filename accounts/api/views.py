from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_api_token
from accounts.selectors import api_tokens_for, memberships_for_user
from accounts.services import api_token_create, api_token_revoke
from common.api import paginated
from common.errors import ApplicationError


class TokenObtainApi(APIView):
    """Exchange a user name and password for a new API token, sent as `Authorization: Token <key>`. Each call makes a
    new token (named `name`, by default "Password exchange"), listed with the user's other tokens."""

    permission_classes = [AllowAny]
    authentication_classes = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField()
        name = serializers.CharField(required=False, max_length=100, default="Password exchange")

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        # Django's own request: django-axes marks a locked-out attempt on it, and its middleware answers 429.
        user = authenticate(request._request, username=values["username"], password=values["password"])
        if user is None:
            raise ApplicationError("wrong user name or password", where="username", code="authentication_failed")
        # A token obtained is a sign-in (last_login moves), as on the login page.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        _, key = api_token_create(user=user, name=values["name"])
        return Response(self.OutputSerializer({"token": key}).data)


class ApiTokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the key's first characters, to tell tokens apart")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="to the minute")
    revoked_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()


class ApiTokenListApi(APIView):
    """GET: your API tokens (live first). POST {name}: a new token; the key is in this answer only."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    class OutputSerializer(ApiTokenOutputSerializer):
        pass

    class CreatedSerializer(ApiTokenOutputSerializer):
        token = serializers.CharField(help_text="the key: shown once, only its hash is kept")

    def get(self, request):
        return paginated(self, api_tokens_for(user=request.user), self.OutputSerializer)

    @extend_schema(responses={201: CreatedSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = api_token_create(user=request.user, name=data.validated_data["name"], created_by=request.user)
        token.token = key
        return Response(self.CreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenRevokeApi(APIView):
    """Stop one of your tokens from working, at once and for good."""

    class OutputSerializer(ApiTokenOutputSerializer):
        pass

    @extend_schema(request=None)
    def post(self, request, token_id: int):
        token = api_token_revoke(token=access_api_token(request.user, token_id), revoked_by=request.user)
        return Response(self.OutputSerializer(token).data)


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class MembershipSerializer(serializers.Serializer):
            workspace_id = serializers.IntegerField()
            workspace = serializers.CharField(source="workspace.name")
            role = serializers.CharField()

        username = serializers.CharField()
        is_superuser = serializers.BooleanField()
        memberships = MembershipSerializer(many=True)

    def get(self, request):
        user = request.user
        body = {
            "username": user.username,
            "is_superuser": user.is_superuser,
            "memberships": memberships_for_user(user=user),
        }
        return Response(self.OutputSerializer(body).data)
