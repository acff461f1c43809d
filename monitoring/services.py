"""State changes of monitoring: a slot's thresholds and channels, the daily drift check, and alert delivery.

monitoring_check is idempotent: an open alert per (slot, series, model, prompt version) is unique in the database, so
checking a day twice (or in two workers at once) raises one alert. Deliveries are rows written with the alert; the
jobs that send them run after commit. A webhook's body is signed with HMAC-SHA256 under the slot's secret
(header X-Whetstone-Signature: sha256=<hex>); a network failure or a 5xx is retried through the job queue after
BACKOFF_SECONDS × 2^(attempt-1), up to MAX_ATTEMPTS; a 4xx or a refused address is final.
"""

import hashlib
import hmac
import json
from datetime import date, timedelta

import httpx
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from common.history import history_record
from llm.outbound import OutboundRefused, base_url_check, outbound_client
from monitoring.drift import Thresholds, drift_verdict, rule_text
from monitoring.models import AlertDelivery, DriftAlert, MonitoringRule
from monitoring.series import RATIO_SERIES, distinct_keys, slot_daily_counts
from releases.models import Deployment

ALERTED_SERIES = (*RATIO_SERIES, "latency_p95")
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 30
WEBHOOK_TIMEOUT_SECONDS = 10
LOOKBACK_DAYS = 120  # a model's baseline is its first days within this many days of the checked day


def thresholds_of(deployment: Deployment) -> Thresholds:
    rule = MonitoringRule.objects.filter(deployment=deployment).first()
    if rule is None:
        return Thresholds()
    return Thresholds(baseline_days=rule.baseline_days, window_days=rule.window_days, min_events=rule.min_events,
                      latency_factor=rule.latency_factor)


def monitoring_rule_update(*, deployment: Deployment, updated_by=None, **values) -> MonitoringRule:
    """Set a slot's thresholds and channels. The webhook URL must pass the outbound policy (llm.outbound)."""
    if values.get("webhook_url"):
        try:
            base_url_check(values["webhook_url"])
        except OutboundRefused as error:
            raise ApplicationError(error.message, where="webhook_url", code=error.code) from error
        if not values.get("webhook_secret"):
            raise ApplicationError(_("A webhook needs a secret to sign its body with."), where="webhook_secret")
    for name in ("baseline_days", "window_days", "min_events"):
        if name in values and not 1 <= int(values[name]) <= 365:
            raise ApplicationError(_("must be between 1 and 365"), where=name)
    if "latency_factor" in values and not float(values["latency_factor"]) > 1:
        raise ApplicationError(_("must be above 1"), where="latency_factor")
    with transaction.atomic():
        rule, _created = MonitoringRule.objects.select_for_update().get_or_create(deployment=deployment)
        before = {name: getattr(rule, name) for name in values if name != "webhook_secret"}
        for name, value in values.items():
            setattr(rule, name, value)
        rule.updated_by = updated_by if updated_by is not None and updated_by.is_authenticated else None
        rule.save()
        history_record(actor=updated_by, target=deployment, verb="monitoring_rule_updated", before=before,
                       after={name: getattr(rule, name) for name in before})
    return rule


def monitoring_check(*, deployment: Deployment, day: date) -> list[DriftAlert]:
    """Apply each series' rule on `day` to every model and prompt version of the slot; raise the alerts that fire and
    have none open, close the open ones whose rule no longer fires. Returns the alerts raised now."""
    thresholds = thresholds_of(deployment)
    table = slot_daily_counts(deployment=deployment, since=day - timedelta(days=LOOKBACK_DAYS), until=day)
    open_alerts = {(a.series, a.model_key, a.prompt_version): a
                   for a in DriftAlert.objects.filter(deployment=deployment, closed_on__isnull=True)}
    raised = []
    for key in distinct_keys(table):  # a model's only prompt version would raise the same alert twice
        days = table[key]
        for series in ALERTED_SERIES:
            figures = drift_verdict(days, series, day, thresholds)
            current = open_alerts.get((series, key.model, key.prompt_version))
            if figures is None:
                if current is not None and current.raised_on < day:
                    DriftAlert.objects.filter(pk=current.pk, closed_on__isnull=True).update(closed_on=day)
                continue
            if current is None:
                alert = _alert_raise(deployment, series, key, day, figures, rule_text(series, thresholds))
                if alert is not None:
                    raised.append(alert)
    return raised


def _alert_raise(deployment, series, key, day, figures, rule) -> DriftAlert | None:
    rule_row = MonitoringRule.objects.filter(deployment=deployment).first()
    try:
        with transaction.atomic():
            alert = DriftAlert.objects.create(deployment=deployment, series=series, model_key=key.model,
                                              model_name=key.name, prompt_version=key.prompt_version, rule=rule,
                                              figures=figures, raised_on=day)
            deliveries = []
            if rule_row is not None and rule_row.email:
                deliveries.append(AlertDelivery.objects.create(alert=alert, channel="email", target=rule_row.email))
            if rule_row is not None and rule_row.webhook_url:
                deliveries.append(AlertDelivery.objects.create(alert=alert, channel="webhook",
                                                               target=rule_row.webhook_url))
            history_record(actor=None, target=deployment, verb="drift_alert_raised",
                           after={"alert": alert.pk, "series": series, "model": key.name,
                                  "prompt_version": key.prompt_version, "day": day.isoformat()})
    except IntegrityError:  # another check raised it first
        return None
    from monitoring.tasks import alert_deliver_task

    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: alert_deliver_task.enqueue(delivery_id=pk))
    return alert


def alert_message(alert: DriftAlert) -> str:
    version = alert.prompt_version or _("all prompt versions")
    return _("Drift on slot %(slot)s: %(series)s of %(model)s (%(version)s) on %(day)s. Rule: %(rule)s. "
             "Figures: %(figures)s") % {
        "slot": alert.deployment.name, "series": alert.get_series_display(), "model": alert.model_name,
        "version": version, "day": alert.raised_on.isoformat(), "rule": alert.rule,
        "figures": json.dumps(alert.figures, sort_keys=True)}


def alert_payload(alert: DriftAlert) -> bytes:
    return json.dumps({"alert": alert.pk, "slot": alert.deployment.name, "series": alert.series,
                       "model": alert.model_name, "model_key": alert.model_key,
                       "prompt_version": alert.prompt_version, "rule": alert.rule, "figures": alert.figures,
                       "raised_on": alert.raised_on.isoformat()}, sort_keys=True).encode()


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def alert_deliver(*, delivery: AlertDelivery) -> AlertDelivery:
    """One attempt at a delivery. Returns the row; its status says whether another attempt was queued."""
    # Claim the attempt first, so two workers holding the same job never send twice (no lock held over the network).
    claimed = AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDelivery.Status.PENDING,
                                           attempts=delivery.attempts).update(attempts=F("attempts") + 1)
    if not claimed:
        delivery.refresh_from_db()
        return delivery
    alert = delivery.alert
    delivery.attempts += 1
    retry = False
    if delivery.channel == AlertDelivery.Channel.EMAIL:
        try:
            send_mail(subject=_("Whetstone drift alert: %(slot)s") % {"slot": alert.deployment.name},
                      message=alert_message(alert), from_email=None, recipient_list=[delivery.target])
            delivery.status, delivery.delivered_at = AlertDelivery.Status.DELIVERED, timezone.now()
        except OSError as error:
            delivery.last_error, retry = str(error), True
    else:
        retry = _webhook_post(delivery, alert)
    if retry:
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = AlertDelivery.Status.FAILED
        else:
            wait = BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
            from monitoring.tasks import alert_deliver_task

            transaction.on_commit(lambda: alert_deliver_task.using(
                run_after=timezone.now() + timedelta(seconds=wait)).enqueue(delivery_id=delivery.pk))
    delivery.save()
    return delivery


def _webhook_post(delivery: AlertDelivery, alert: DriftAlert) -> bool:
    """POST the signed alert; True when worth retrying."""
    rule = MonitoringRule.objects.filter(deployment=alert.deployment).first()
    body = alert_payload(alert)
    headers = {"Content-Type": "application/json",
               "X-Whetstone-Signature": webhook_signature(rule.webhook_secret if rule else "", body)}
    try:
        with outbound_client(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = client.post(delivery.target, content=body, headers=headers)
    except OutboundRefused as error:
        delivery.status, delivery.last_error = AlertDelivery.Status.FAILED, error.message
        return False
    except httpx.HTTPError as error:
        delivery.last_error = str(error) or type(error).__name__
        return True
    delivery.last_status_code = response.status_code
    if response.status_code < 300:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", timezone.now(), ""
        return False
    delivery.last_error = _("the webhook answered HTTP %(status)s") % {"status": response.status_code}
    if response.status_code >= 500 or response.status_code == 429:
        return True
    delivery.status = AlertDelivery.Status.FAILED
    return False
