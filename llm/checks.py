"""`manage.py check` (and every server start) reports an outbound setting it cannot read, instead of the first call."""

from django.core import checks


@checks.register(checks.Tags.security)
def outbound_settings(app_configs, **kwargs):
    from llm.outbound import outbound_settings_check

    return [checks.Error(problem, id="llm.E001") for problem in outbound_settings_check()]
