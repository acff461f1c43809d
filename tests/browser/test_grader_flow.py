"""An ML engineer writes a grader, tries it on the bench, and a GRPO run's page charts its rewards: in Chromium, at a
desktop's and a phone's width, in English and Chinese."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SAMPLES = "Your order has shipped\torder\nHello there\torder"


def test_write_a_grader_try_it_on_the_bench_and_see_a_runs_rewards(page, live_server, login, users, workspace,
                                                                     tiny_base_model, sft_version):
    from graders.models import Grader
    from training.services.execution import metric_points_ingest
    from training.services.runs import training_run_create

    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, "ml_engineer", "pw-ml_engineer")
    page.goto(f"{live_server.url}/graders/new/?kind=string_check")
    page.fill("input[name=name]", "has order")
    page.click("#grader-form button[type=submit]")
    grader = Grader.objects.get()
    page.wait_for_url(f"{live_server.url}/graders/{grader.pk}/edit/")
    page.click("text=Try it on the bench")
    page.fill("textarea[name=samples]", SAMPLES)
    page.click("#bench-form button[type=submit]")
    cells = page.locator("#bench-result td.score strong").all_inner_texts()
    assert cells == ["1.000", "0.000"]
    page.screenshot(path="/tmp/grpo_bench_desktop.png", full_page=True)

    run = training_run_create(workspace=workspace, name="grpo", base_model=tiny_base_model,
                              dataset_version=sft_version, method="grpo", graders=[grader],
                              hyperparameters={"num_generations": 4, "per_device_train_batch_size": 4})
    metric_points_ingest(run=run, rows=[{"step": step, "epoch": step / 4, "values": {
        "loss": 0.01, "reward": step / 4, "rewards/has order/mean": step / 4, "kl": 0.01 * step,
        "completions/mean_length": 20 - step, "completions/clipped_ratio": 0.5 / step, "learning_rate": 1e-4}}
        for step in (1, 2, 3, 4)])
    page.goto(f"{live_server.url}/training/runs/{run.pk}/")
    page.wait_for_selector("#reward-chart .main-svg")
    legend = page.locator("#reward-chart .legendtext").all_text_contents()
    assert sorted(legend) == ["KL to the base model", "mean reward", "reward · has order",
                              "share of completions cut at the length limit"]
    page.wait_for_selector("#length-chart .main-svg")
    page.screenshot(path="/tmp/grpo_run_desktop.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
    page.goto(f"{live_server.url}/graders/bench/{workspace.pk}/?grader={grader.pk}")
    page.fill("textarea[name=samples]", SAMPLES)
    page.click("#bench-form button[type=submit]")
    page.wait_for_selector("#bench-result")
    page.screenshot(path="/tmp/grpo_bench_phone_zh.png", full_page=True)
    page.goto(f"{live_server.url}/training/runs/{run.pk}/")
    page.wait_for_selector("#reward-chart .main-svg")
    page.screenshot(path="/tmp/grpo_run_phone_zh.png", full_page=True)
    assert errors == []
