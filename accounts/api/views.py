from django.contrib.auth import authenticate, user_logged_in
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import memberships_for_user
from accounts.services import api_token_for
from common.errors import ApplicationError


class TokenObtainApi(APIView):
    """Exchange a user name and password for the API token scripts send as `Authorization: Token <key>`."""

    permission_classes = [AllowAny]
    authentication_classes = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's own request: django-axes marks a locked-out attempt on it, and its middleware answers 429.
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise ApplicationError("wrong user name or password", where="username", code="authentication_failed")
        # A token obtained is a sign-in (last_login moves), as on the login page.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response(self.OutputSerializer({"token": api_token_for(user=user)}).data)


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
        body = {"username": user.username, "is_superuser": user.is_superuser, "memberships": memberships_for_user(user=user)}
        return Response(self.OutputSerializer(body).data)
