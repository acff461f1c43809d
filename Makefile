# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs once; later runs skip straight to the work.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test migrate worker serve messages

# The quick start's endpoints call its own model server (http://127.0.0.1:8000/v1), a loopback address the outbound
# policy refuses unless the operator allows it. Set WHETSTONE_OUTBOUND_PRIVATE_ALLOWED yourself to change this.
demo worker: export WHETSTONE_OUTBOUND_PRIVATE_ALLOWED ?= 127.0.0.1:8000

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# `make demo MODEL=/path/to/a/chat/model` runs the loop on that model directory instead of the tiny pretrained one.
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo $(if $(MODEL),--model "$(MODEL)")

test: install
	$(PY) -m pytest

migrate: install
	$(PY) manage.py migrate --noinput

worker: install
	$(PY) manage.py db_worker --queue-name default,gpu

messages:
	cd $(CURDIR) && $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var && $(PY) manage.py compilemessages --ignore=.venv
