# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs once; later runs skip straight to the work.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test migrate worker serve messages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo

test: install
	$(PY) -m pytest

migrate: install
	$(PY) manage.py migrate --noinput

worker: install
	$(PY) manage.py db_worker --queue-name default,gpu

messages:
	cd $(CURDIR) && $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var && $(PY) manage.py compilemessages --ignore=.venv
