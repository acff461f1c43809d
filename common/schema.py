import re

from drf_spectacular import openapi as drf_spectacular_openapi


class AutoSchema(drf_spectacular_openapi.AutoSchema):
    """OpenAPI for the house pattern: a view's nested InputSerializer / OutputSerializer describe its request and
    response, and components are named by their full nesting (TrainingRunDetailApi.OutputSerializer →
    TrainingRunDetailOutput)."""

    def get_request_serializer(self):
        serializer = getattr(self.view, "InputSerializer", None)
        return serializer if serializer is not None else super().get_request_serializer()

    def get_response_serializers(self):
        serializer = getattr(self.view, "OutputSerializer", None)
        return serializer if serializer is not None else super().get_response_serializers()

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        return "".join(part.removesuffix("Serializer").removesuffix("Api") for part in qualname.split("."))

    def get_operation_id(self):
        """One view per operation, so the view's name (and the method, for views that serve two) names it."""
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("Api")).lower()
        return f"{name}_{self.method.lower()}"
