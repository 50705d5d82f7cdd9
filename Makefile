# cnnlab: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST_ARGS ?=
FMNIST  = /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
# opencv-python-headless (pulled in by grad-cam) and opencv-contrib-python-headless (selective search, cv2.ximgproc)
# install the same cv2 package; whichever pip wrote last wins. After every install, put the contrib one back on top.
OPENCV_CONTRIB = $(BIN)/python -c "import cv2; cv2.ximgproc" 2>/dev/null || \
	$(BIN)/pip install -q --force-reinstall --no-deps opencv-contrib-python-headless
CHROMIUM = /usr/bin/chromium
STUDIO_ARGS ?=

.PHONY: demo studio test lint install dev fashion-mnist chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(OPENCV_CONTRIB)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(OPENCV_CONTRIB)
	$(BIN)/python -c "import cv2; cv2.ximgproc.segmentation.createSelectiveSearchSegmentation"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/cnnlab demo --out cnnlab-demo

# the local web app on http://127.0.0.1:8000/ (make studio STUDIO_ARGS="--runs runs --port 8001")
studio: install
	$(BIN)/cnnlab studio $(STUDIO_ARGS)

# Debian's dataset-fashion-mnist puts the real IDX files in /usr/share/datasets/fashion-mnist.
fashion-mnist:
	@if [ ! -f $(FMNIST) ] && [ -z "$$CNNLAB_DATA" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
	      >/dev/null || echo "warning: could not install dataset-fashion-mnist"; \
	  else echo "warning: Fashion-MNIST missing; run: sudo apt install dataset-fashion-mnist"; fi; \
	fi

# Debian's chromium, which the studio's browser tests drive with Playwright (never `playwright install`: it
# downloads a browser). Without it those tests fail, saying so.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      >/dev/null || echo "warning: could not install chromium"; \
	  else echo "warning: $(CHROMIUM) missing (the studio's browser tests will fail); run: sudo apt install chromium"; fi; \
	fi

test: dev fashion-mnist chromium
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff check src tests benchmarks

bench: dev
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) cnnlab-demo .pytest_cache build src/*.egg-info
