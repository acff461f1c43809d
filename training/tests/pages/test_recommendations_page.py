"""The launch page's recommendations panel: the settings recommended for the chosen version and model with their
reasons, the warnings, and the button that applies them."""

import json
import re

from django.urls import reverse

from training.tests.pages.test_pages import browser, run_new_form  # noqa: F401 (browser is a fixture)


def test_the_launch_page_asks_for_recommendations_as_the_form_changes(browser, users, tiny_base_model, sft_version):
    content = browser(users["ml_engineer"]).get(reverse("training:run-new")).content.decode()
    assert f'hx-post="{reverse("training:run-recommend")}"' in content
    assert "Recommended for this data and model" in content


def test_the_panel_shows_each_setting_with_its_reason_and_the_warnings(browser, users, tiny_base_model, sft_version,
                                                                       settings):
    settings.TRAINING_DEVICE_MEMORY_GB = 24
    client = browser(users["ml_engineer"])
    response = client.post(reverse("training:run-recommend"), run_new_form(tiny_base_model, sft_version, goal="style"))
    content = response.content.decode()
    assert response.status_code == 200
    assert '<option value="style" selected>Style (tone, format)</option>' in content
    assert "<td>Adapter</td><td class=\"num\">Prefix tuning (P-tuning v2)</td>" in content
    assert "10 style examples → P-tuning v2 (prefix tuning), or LoRA r=8; the brief recommends it for style" in content
    assert ("10 examples will not teach a model style; the brief suggests 500–2,000 for style" in content)
    applied = json.loads(re.search(r'data-apply="([^"]*)"', content).group(1).replace("&quot;", '"'))
    assert (applied["adapter"], applied["learning_rate"], applied["num_train_epochs"]) == ("prefix_tuning", 0.005, 5.0)

    knowledge = client.post(reverse("training:run-recommend"),
                            run_new_form(tiny_base_model, sft_version, lora_r="64")).content.decode()
    assert "10 knowledge examples → LoRA r=16 on every linear layer" in knowledge
    assert "rank 64 is high for 10 records: the adapter can memorise them; 8–16 is enough" in knowledge


def test_the_panel_of_a_version_the_user_cannot_see_is_not_found(browser, users, tiny_base_model, sft_version):
    response = browser(users["outsider"]).post(reverse("training:run-recommend"),
                                               run_new_form(tiny_base_model, sft_version))
    assert response.status_code == 404
