// The live loss chart of a training run: polls the run's metrics endpoint and extends the Plotly traces,
// until the run has finished. Labels come from data-* attributes so they are translated server-side.
(function () {
  "use strict";
  // A horizontal legend goes above the plot: below it, Plotly draws it over the x axis's title.
  const ABOVE = { orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom" };
  // The log panel is re-rendered by htmx every few seconds: keep its newest lines in view.
  function logToEnd() {
    const log = document.getElementById("run-log");
    if (log) log.scrollTop = log.scrollHeight;
  }
  document.body.addEventListener("htmx:afterSettle", logToEnd);
  logToEnd();

  // The launch page's "Apply the fix" buttons (rendered by the preflight panel): set the run's switch the note names
  // and let the form's change trigger the panel again.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-fix]");
    const form = document.getElementById("run-new");
    if (!button || !form) return;
    const field = form.querySelector(`input[name="${button.dataset.fix}"]`);
    if (!field) return;
    field.checked = button.dataset.fixValue !== "off";
    field.dispatchEvent(new Event("change", { bubbles: true }));
    field.closest("tr")?.scrollIntoView({ block: "center" });
  });

  // The launch page's "Use these settings" button (rendered by the recommendations panel): set the adapter and each
  // recommended hyperparameter, then let the form's change trigger the panels again.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-apply]");
    const form = document.getElementById("run-new");
    if (!button || !form) return;
    let last = null;
    for (const [name, value] of Object.entries(JSON.parse(button.dataset.apply))) {
      const field = form.querySelector(`[name="${name}"]`);
      if (!field) continue;
      if (field.type === "checkbox") field.checked = Boolean(value);
      else field.value = String(value);
      last = field;
    }
    last?.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // The compare page: every run's training loss (solid) and validation loss (dotted) on one chart.
  const compare = document.getElementById("compare-chart");
  if (compare) {
    const runs = JSON.parse(document.getElementById("compare-data").textContent);
    const drawCompare = () => {
      if (typeof Plotly === "undefined") { setTimeout(drawCompare, 100); return; }
      const traces = [];
      for (const run of runs) {
        for (const [name, dash, label] of [["loss", "solid", compare.dataset.labelLoss], ["eval_loss", "dot", compare.dataset.labelEvalLoss]]) {
          const points = run.series[name];
          if (points) traces.push({ x: points.step, y: points.value, mode: "lines", line: { dash }, name: `${run.name} · ${label}` });
        }
      }
      Plotly.newPlot(compare, traces, {
        margin: { t: 40, r: 10, b: 40, l: 50 }, height: 360, xaxis: { title: { text: compare.dataset.labelStep } },
        legend: ABOVE,
      }, { displayModeBar: false, responsive: true });
    };
    drawCompare();
  }

  const chart = document.getElementById("loss-chart");
  if (!chart) return;
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  const POLL_MS = 2000;
  const url = chart.dataset.metricsUrl;
  const names = {
    loss: chart.dataset.labelLoss, eval_loss: chart.dataset.labelEvalLoss,
    "rewards/accuracies": chart.dataset.labelAccuracies, "rewards/margins": chart.dataset.labelMargins,
  };
  const traces = {};  // metric name -> index in the plot
  let lastId = 0;
  let drawn = false;

  function traceFor(name) {
    if (!(name in traces)) {
      traces[name] = Object.keys(traces).length;
      Plotly.addTraces(chart, { x: [], y: [], mode: "lines+markers", name: names[name] || name });
    }
    return traces[name];
  }

  // The learning rate has a scale of its own: it gets its own chart under the loss.
  const rateChart = document.getElementById("lr-chart");
  let rateDrawn = false;

  function drawRate(points) {
    if (!rateChart) return;
    if (!rateDrawn) {
      rateChart.textContent = "";
      Plotly.newPlot(rateChart, [{ x: [], y: [], mode: "lines", name: rateChart.dataset.label }], {
        margin: { t: 10, r: 10, b: 40, l: 60 }, height: 200,
        xaxis: { title: { text: chart.dataset.labelStep } }, yaxis: { rangemode: "tozero", exponentformat: "e" },
      }, { displayModeBar: false, responsive: true });
      rateDrawn = true;
    }
    Plotly.extendTraces(rateChart, { x: [points.step], y: [points.value] }, [0]);
  }

  // GRPO: rewards (the mean, each grader's, the KL and the clipped share, all between 0 and about 1) on a chart of
  // their own, and the completion length in tokens on another.
  const rewardChart = document.getElementById("reward-chart");
  const lengthChart = document.getElementById("length-chart");
  const rewardTraces = {};
  let rewardDrawn = false;
  let lengthDrawn = false;

  function rewardLabel(name) {
    const labels = rewardChart.dataset;
    if (name === "reward") return labels.labelReward;
    if (name === "kl") return labels.labelKl;
    if (name === "completions/clipped_ratio") return labels.labelClipped;
    return `${labels.labelGrader} · ${name.slice("rewards/".length, -"/mean".length)}`;
  }

  function drawRewards(series) {
    if (!rewardChart || !Object.keys(series).length) return;
    if (!rewardDrawn) {
      rewardChart.textContent = "";
      Plotly.newPlot(rewardChart, [], {
        margin: { t: 40, r: 10, b: 40, l: 50 }, height: 320, xaxis: { title: { text: chart.dataset.labelStep } },
        legend: ABOVE,
      }, { displayModeBar: false, responsive: true });
      rewardDrawn = true;
    }
    for (const [name, points] of Object.entries(series)) {
      if (!(name in rewardTraces)) {
        rewardTraces[name] = Object.keys(rewardTraces).length;
        Plotly.addTraces(rewardChart, { x: [], y: [], mode: "lines+markers", name: rewardLabel(name) });
      }
      Plotly.extendTraces(rewardChart, { x: [points.step], y: [points.value] }, [rewardTraces[name]]);
    }
  }

  function drawLength(points) {
    if (!lengthChart) return;
    if (!lengthDrawn) {
      lengthChart.textContent = "";
      Plotly.newPlot(lengthChart, [{ x: [], y: [], mode: "lines", name: lengthChart.dataset.label }], {
        margin: { t: 10, r: 10, b: 40, l: 60 }, height: 200, xaxis: { title: { text: chart.dataset.labelStep } },
        yaxis: { rangemode: "tozero" },
      }, { displayModeBar: false, responsive: true });
      lengthDrawn = true;
    }
    Plotly.extendTraces(lengthChart, { x: [points.step], y: [points.value] }, [0]);
  }

  const isReward = (name) => name === "reward" || name === "kl" || name === "completions/clipped_ratio"
    || (name.startsWith("rewards/") && name.endsWith("/mean"));

  function draw(all) {
    const { learning_rate: rate, "completions/mean_length": length, ...rest } = all;
    if (rate) drawRate(rate);
    if (length) drawLength(length);
    const series = {};
    const rewards = {};
    for (const [name, points] of Object.entries(rest)) (isReward(name) ? rewards : series)[name] = points;
    drawRewards(rewards);
    if (!Object.keys(series).length) return;
    if (!drawn) {
      chart.textContent = "";
      Plotly.newPlot(chart, [], {
        margin: { t: 40, r: 10, b: 40, l: 50 }, height: 320,
        xaxis: { title: { text: chart.dataset.labelStep } }, yaxis: { rangemode: "normal" },
        legend: ABOVE,
      }, { displayModeBar: false, responsive: true });
      drawn = true;
    }
    for (const [name, points] of Object.entries(series)) {
      Plotly.extendTraces(chart, { x: [points.step], y: [points.value] }, [traceFor(name)]);
    }
  }

  async function poll() {
    let body;
    try {
      const response = await fetch(`${url}?after=${lastId}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(response.status);
      body = await response.json();
    } catch (error) {
      setTimeout(poll, POLL_MS * 2);
      return;
    }
    lastId = body.last_id;
    if (Object.keys(body.series).length) draw(body.series);
    else if (!drawn) {
      chart.textContent = chart.dataset.empty;
      if (rateChart) rateChart.textContent = chart.dataset.empty;
    }
    // A full page of points means more are waiting; otherwise wait, unless the run is over.
    if (body.points.length >= 5000) poll();
    else if (!FINISHED.has(body.status)) setTimeout(poll, POLL_MS);
  }

  function start() {
    if (typeof Plotly === "undefined") { setTimeout(start, 100); return; }
    poll();
  }
  start();
})();
