# The two commands of the README: `make demo` and `make test`. Only python3 (with venv) and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench-import messages worker beat clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo && $(PY) manage.py seed_demo_program
	$(PY) manage.py runserver 127.0.0.1:8000

# One test process per core (pytest-xdist); PYTEST_WORKERS=0 runs the suite in this process.
test: $(STAMP)
	$(PY) -m pytest -n $${PYTEST_WORKERS:-auto} --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-import: $(STAMP)
	$(PY) bench/import_members.py --rows $${ROWS:-100000}

# Regenerate and compile the translation catalogues (needs gettext; the compiled .mo files are committed).
messages: $(STAMP)
	$(PY) manage.py makemessages -l zh_Hant -l zh_Hans --ignore=.venv --ignore=bench --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -l info

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat -l info

clean:
	rm -rf $(VENV) db.sqlite3 media private staticfiles
