# The two commands: `make run` serves the product, `make test` runs every check. Both build the
# virtual environment first when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MNIST_DATA_DIR ?= $(abspath ../shared/data/mnist)
API_PORT ?= 8000
UI_PORT ?= 8501
# Line coverage of service/, training/ and frontend/ measured in the pytest process (the uvicorn and
# Streamlit processes the tests start are not traced); make test fails below it.
COVERAGE_FLOOR ?= 85

.PHONY: run api ui test lint format train evaluate bench container-check clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

run: $(BIN)/activate  ## the API on :8000 and the UI on :8501, with the committed model
	@echo "API: http://localhost:$(API_PORT)/docs   UI: http://localhost:$(UI_PORT)   (Ctrl-C stops both)"
	@trap 'kill 0' INT TERM EXIT; \
	PORT=$(API_PORT) $(BIN)/python -m service & \
	API_URL=$${API_URL:-http://localhost:$(API_PORT)} $(BIN)/streamlit run frontend/app.py \
		--server.port $(UI_PORT) --server.headless true --browser.gatherUsageStats false & \
	wait

api: $(BIN)/activate
	PORT=$(API_PORT) $(BIN)/python -m service

test: $(BIN)/activate lint  ## lint, then the whole suite (unit, API, browser, soak) with coverage
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

lint: $(BIN)/activate  ## ruff (lint + format), the layers' import contracts, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(BIN)/activate
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The served model is the MNIST-only base fine-tuned on Semeion's lines 1-1,000, sent to a real
# service as corrections (the README's "Learning from corrections"); the corrections are kept in
# data/semeion-corrections.db, and the same corrections give the same model.
CORRECTIONS_DB := sqlite:///$(CURDIR)/data/semeion-corrections.db

train: $(BIN)/activate  ## retrain the committed models: the base (~4 min on 2 cores), then the fine-tune (~3 min)
	$(BIN)/python -m training --recipe augmented --output models/base/mnist_cnn_model.pth
	mkdir -p data && rm -f data/semeion-corrections.db
	$(BIN)/python -m bench.corrections --database-url $(CORRECTIONS_DB) -- --lr 2e-3
	$(BIN)/python -m training --recipe finetune --feedback $(CORRECTIONS_DB) --lr 2e-3 \
		--base models/base/mnist_cnn_model.pth --output models/mnist_cnn_model.pth

evaluate: $(BIN)/activate
	$(BIN)/python -m training.evaluate models/mnist_cnn_model.pth

bench: $(BIN)/activate  ## throughput against baselines, in one run
	$(BIN)/python -m bench

# Builds Dockerfile.api and Dockerfile.ui with buildah (no Docker engine needed) and runs both
# images: health, the README's examples, HEALTHCHECKs, the browser test. Needs root, buildah,
# podman, debootstrap, Chromium; ~18 min the first time on 2 cores, ~1-3 min with layers cached.
container-check: $(BIN)/activate
	$(BIN)/python -m deploy.container_check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .coverage test-artifacts
