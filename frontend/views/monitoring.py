"""A deployment slot's monitoring page: daily like ratio, pick share, edit rate, request volume and p95 latency per
model and prompt version with their intervals, the drift rule as stated, the alerts with their delivery log, and (for
release managers) the slot's thresholds and alert channels and a "check now" button that queues the check.

The same services and selectors as the monitoring_check command and job.
"""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from monitoring.models import DriftAlert
from monitoring.selectors import slot_dashboard
from monitoring.services import monitoring_rule_update
from monitoring.tasks import monitoring_check_task
from releases.access import access_deployment

MANAGE = "release.manage"
DAYS_CHOICES = (14, 30, 60, 90)


class RuleForm(forms.Form):
    baseline_days = forms.IntegerField(label=gettext_lazy("Baseline: the model's first days"), min_value=1,
                                       max_value=365)
    window_days = forms.IntegerField(label=gettext_lazy("Window: the last days compared"), min_value=1, max_value=365)
    min_events = forms.IntegerField(label=gettext_lazy("Fewest events for a verdict"), min_value=1, max_value=365)
    latency_factor = forms.FloatField(label=gettext_lazy("p95 latency factor"), min_value=1.01)
    email = forms.EmailField(label=gettext_lazy("Alert e-mail"), required=False)
    webhook_url = forms.URLField(label=gettext_lazy("Alert webhook URL"), required=False)
    webhook_secret = forms.CharField(label=gettext_lazy("Webhook secret (HMAC-SHA256 key)"), required=False,
                                     widget=forms.PasswordInput(render_value=True))


def _words() -> dict:
    return {"like_ratio": _("Like ratio"), "pick_share": _("Pick share"), "edit_rate": _("Edit rate"),
            "volume": _("Requests per day"), "latency_p95": _("p95 latency (ms)"),
            "all_versions": _("all prompt versions"), "interval": _("95%% interval") % {}}


@login_required
def slot_monitoring_view(request, deployment_id: int):
    deployment = access_deployment(request.user, deployment_id)
    can_manage = user_can(request.user, MANAGE, deployment.workspace)
    if request.method == "POST" and not can_manage:
        raise Http404
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in DAYS_CHOICES else 30
    data = slot_dashboard(deployment=deployment, days=days)
    thresholds = data["thresholds"]
    rule = data["rule"]
    initial = {"baseline_days": thresholds.baseline_days, "window_days": thresholds.window_days,
               "min_events": thresholds.min_events, "latency_factor": thresholds.latency_factor,
               "email": rule.email if rule else "", "webhook_url": rule.webhook_url if rule else "",
               "webhook_secret": rule.webhook_secret if rule else ""}
    form = RuleForm(request.POST or None, initial=initial) if can_manage else None
    if form is not None and request.method == "POST" and form.is_valid():
        try:
            monitoring_rule_update(deployment=deployment, updated_by=request.user, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(error.where if error.where in form.fields else None, error.message)
        else:
            messages.success(request, _("Thresholds and alert channels saved."))
            return redirect("monitoring:slot", deployment_id=deployment.pk)
    charts = {"series": data["series"], "words": _words()}
    context = {"deployment": deployment, "data": data, "form": form, "can_manage": can_manage, "days": days,
               "days_choices": DAYS_CHOICES, "charts": charts, "series_labels": DriftAlert.Series}
    return render(request, "frontend/monitoring/slot.html", context)


@login_required
@require_POST
def slot_check_view(request, deployment_id: int):
    deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    transaction.on_commit(lambda: monitoring_check_task.enqueue(deployment_id=deployment.pk, day=day))
    messages.success(request, _("The check of %(day)s is queued.") % {"day": day})
    return redirect("monitoring:slot", deployment_id=deployment.pk)


app_name = "monitoring"
urlpatterns = [
    path("slots/<int:deployment_id>/", slot_monitoring_view, name="slot"),
    path("slots/<int:deployment_id>/check/", slot_check_view, name="slot-check"),
]
