import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import every view now, while the worker boots, not in the first request it serves: the URLconf pulls in the whole
# project (text metrics, model code) and took ten seconds and more, which the first annotators of each worker waited.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns
