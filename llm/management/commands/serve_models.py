"""Run the OpenAI-compatible model server on its own: `manage.py serve_models --host 0.0.0.0 --port 8001`.

A threaded WSGI server for this project with no static files or autoreload; clients use
http://<host>:<port>/v1 with a Whetstone API token as the API key. For production, any WSGI server in front of
config.wsgi serves the same /v1/ routes.
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import get_internal_wsgi_application, run


class Command(BaseCommand):
    help = "Serve every registered base model and model artifact through the OpenAI chat-completions protocol."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
        parser.add_argument("--max-models", type=int, default=None,
                            help="models kept loaded at once, least recently used dropped first (default 2)")
        parser.add_argument("--torch-threads", type=int, default=None,
                            help="CPU threads torch may use per generation (default: torch's own choice). Small models "
                                 "on a busy machine answer far faster with 1.")
        parser.add_argument("--batch-window-ms", type=float, default=None,
                            help="how long a request waits for others to the same model to decode with (default 5)")
        parser.add_argument("--max-batch", type=int, default=None,
                            help="requests decoded together at most (default 16)")
        parser.add_argument("--no-batching", action="store_true",
                            help="one request at a time, with transformers' generate behind one lock (the baseline "
                                 "the serve_chat benchmark compares batching with)")

    def handle(self, *args, host, port, max_models, torch_threads, batch_window_ms, max_batch, no_batching,
               **options):
        if batch_window_ms is not None:
            if not 0 <= batch_window_ms <= 1000:
                raise CommandError(f"--batch-window-ms: must be between 0 and 1000; got {batch_window_ms:g}")
            os.environ["WHETSTONE_SERVER_BATCH_WINDOW_MS"] = str(batch_window_ms)
        if max_batch is not None:
            if max_batch < 1:
                raise CommandError(f"--max-batch: must be at least 1; got {max_batch}")
            os.environ["WHETSTONE_SERVER_MAX_BATCH"] = str(max_batch)
        if no_batching:
            os.environ["WHETSTONE_SERVER_BATCHING"] = "off"
        if max_models is not None:
            if max_models < 1:
                raise CommandError(f"--max-models: must be at least 1; got {max_models}")
            os.environ["WHETSTONE_SERVER_MAX_MODELS"] = str(max_models)
        if torch_threads is not None:
            if torch_threads < 1:
                raise CommandError(f"--torch-threads: must be at least 1; got {torch_threads}")
            import torch

            torch.set_num_threads(torch_threads)
        if not 0 < port < 65536:
            raise CommandError(f"--port: {port} is not a TCP port")
        self.stdout.write(f"Serving the OpenAI-compatible API at http://{host}:{port}/v1 "
                          f"(GET /v1/models, POST /v1/chat/completions); API key: a Whetstone API token. Ctrl-C stops.")
        try:
            run(host, port, get_internal_wsgi_application(), ipv6=":" in host, threading=True)
        except OSError as error:
            raise CommandError(f"--host/--port: cannot listen on {host}:{port}: {error}") from error
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
