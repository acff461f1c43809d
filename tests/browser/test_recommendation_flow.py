"""An ML engineer opens the launch page, reads the settings recommended for the data and the model with their reasons
and warnings, and applies them with one click: in Chromium, at a desktop's and a phone's width, in English and
Chinese."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_read_the_recommendations_and_apply_them(page, live_server, login, settings, users, tiny_base_model,
                                                 sft_version):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, "ml_engineer", "pw-ml_engineer")
    page.goto(f"{live_server.url}/training/runs/new/")
    page.wait_for_selector("#recommendations table.recommendations")
    assert page.locator("#recommendations li.bad").all_inner_texts() == [
        "10 examples will not teach a model knowledge; the brief suggests 3,000–10,000 for knowledge"]
    page.select_option("#id_goal", "style")
    page.wait_for_selector("#recommendations option[value=style][selected]", state="attached")
    page.wait_for_function("document.querySelector('#recommendations').textContent.includes('P-tuning v2')")
    page.click("#recommendations button[data-apply]")
    assert page.input_value("#id_adapter") == "prefix_tuning"
    assert page.input_value("#id_learning_rate") == "0.005"
    assert page.input_value("#id_prompt_tuning_virtual_tokens") == "20"
    page.screenshot(path="/tmp/recommend_desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
    page.goto(f"{live_server.url}/training/runs/new/")
    page.wait_for_selector("#recommendations table.recommendations")
    page.screenshot(path="/tmp/recommend_phone_zh.png", full_page=True)
    assert errors == []
