"""The runner's live links to the platform, plain files in the run's output directory (see training.runner.files):
metrics.jsonl and progress.json out, CANCEL in."""

import json
import math
import os
from pathlib import Path

from transformers import TrainerCallback

from training.runner.files import CANCEL_FILE, METRICS_FILE, PROGRESS_FILE


def _finite(value):
    # JSON has no NaN or Infinity; a diverged loss is still worth recording, as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class PlatformCallback(TrainerCallback):
    """Streams logs and progress to `out_dir` and stops cleanly when `out_dir/CANCEL` appears.

    Writes happen on the main process only, so several GPUs never interleave lines; every process checks
    CANCEL (on a shared disk all of them see it), so no rank keeps waiting for the others.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.cancelled = False
        self.last_evaluated_step = -1

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.last_evaluated_step = state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        line = {
            "step": state.global_step,
            "epoch": state.epoch,
            "max_steps": state.max_steps,
            "values": {key: _finite(value) for key, value in logs.items() if isinstance(value, (int, float))},
        }
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as metrics:
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._write_progress(state)
        if (self.out_dir / CANCEL_FILE).exists():
            self.cancelled = True
            control.should_training_stop = True
            # Save a checkpoint the run can resume from, and log the loss so far.
            control.should_save = True
            control.should_log = True
        return control

    def _write_progress(self, state) -> None:
        # Write-then-rename so a reader never sees half a file.
        progress = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch}
        partial = self.out_dir / (PROGRESS_FILE + ".partial")
        partial.write_text(json.dumps(progress), encoding="utf-8")
        os.replace(partial, self.out_dir / PROGRESS_FILE)
