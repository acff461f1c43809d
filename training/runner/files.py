"""Names of the files a run directory holds: the contract between the runner and the platform (stdlib only)."""

CONFIG_FILE = "config.json"  # training.runner.config.RunConfig, written by the platform
METRICS_FILE = "metrics.jsonl"  # one JSON line per Trainer log call: {"step", "epoch", "max_steps", "values": {...}}
PROGRESS_FILE = "progress.json"  # {"step", "max_steps", "epoch"} after every optimizer step
CANCEL_FILE = "CANCEL"  # created by the platform; the run stops at the next step end, saving a checkpoint first
#{"global_step", "cancelled", "train_loss", "artifact_kind", "artifact_dir"} when the runner finished
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"  # {"error": "<Type>: <message>"} when the runner failed
WARNINGS_FILE = "warnings.jsonl"  # one {"source": "trl" | "whetstone", "message"} per distinct warning about the data
ADAPTER_DIR = "adapter"  # the trained adapter and the tokenizer
MODEL_DIR = "model"  # full fine-tuning: the whole trained model and the tokenizer
CHECKPOINTS_DIR = "checkpoints"  # resumable Trainer checkpoints
