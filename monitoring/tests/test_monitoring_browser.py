"""A product manager reads a slot's monitoring page in the browser: the charts drawn, the alert with its rule and
figures, on desktop and phone, English and Chinese. Screenshots go to $WHETSTONE_SCREENSHOTS when set."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from monitoring.services import monitoring_check, monitoring_rule_update
from monitoring.tests.streams import send_day

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]


def _shot(page, name: str) -> None:  # noqa: F811
    folder = os.environ.get("WHETSTONE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _fits(page, width: int) -> bool:  # noqa: F811
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_monitoring_page_draws_the_series_and_the_alert(page, login, live_server, users,  # noqa: F811
                                                            ingest_client, slot, tiny_base_model):
    monitoring_rule_update(deployment=slot, baseline_days=5, window_days=2, min_events=30, email="pm@example.com")
    start = timezone.localdate() - timedelta(days=12)
    for n in range(12):
        send_day(ingest_client, slot, tiny_base_model, n, likes=30 if n < 9 else 12, dislikes=10 if n < 9 else 28,
                 latency_ms=200 + 5 * n, start=start)
        monitoring_check(deployment=slot, day=start + timedelta(days=n))

    login(page, "product_manager", "pw-product_manager")
    page.goto(f"{live_server.url}/monitoring/slots/{slot.pk}/")
    page.wait_for_selector("#chart-like_ratio .main-svg")
    for name in ("pick_share", "edit_rate", "volume", "latency_p95"):
        assert page.locator(f"#chart-{name} .main-svg").count() >= 1
    assert page.locator("#alert-table tbody tr").count() == 1
    assert "Like ratio" in page.locator("#alert-table tbody tr").inner_text()
    assert _fits(page, 1280)
    _shot(page, "monitoring-1280-en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # Plotly redraws the charts at the new width
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
                            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert _fits(page, 390), wide
    _shot(page, "monitoring-390-en")
    with page.expect_navigation():
        page.select_option("form.lang select", "zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert _fits(page, 390)
    _shot(page, "monitoring-390-zh")
    page.set_viewport_size({"width": 1280, "height": 900})
    _shot(page, "monitoring-1280-zh")
