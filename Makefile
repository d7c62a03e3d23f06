# Plain entry points. `make run` and `make test` each set everything up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup run test lint typecheck imports unit bench bundle bundle-test clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,cluster]'
	$(BIN)/python -m astrolens.ml.embedders.onnx_export
	touch $(STAMP)

setup: $(STAMP)

# The app's main job: the discovery agent on the embedded offline sample sky. With a display it
# is the tray agent; without one, the same loop runs headless in the terminal.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
		$(BIN)/astrolens $(ARGS); \
	else \
		echo "No display found: running the discovery loop headless (Ctrl-C stops it)."; \
		$(BIN)/astrolens run --headless $(ARGS); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# The whole suite: static checks, then every test (desktop tests start their own Xvfb,
# D-Bus session and notification daemon).
test: lint typecheck imports unit

bench: $(STAMP)
	$(BIN)/python benchmarks/detection.py $(ARGS)

# The desktop bundle (no Python needed to run it): dist/astrolens/ (one folder), on macOS also
# dist/AstroLens.app, on Linux also a tarball (and an AppImage if appimagetool is installed).
bundle: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller astrolens.spec
	if [ "$$(uname -s)" = Linux ]; then sh packaging/linux/make_tarball.sh; fi

# Build the bundle and run it: --version, a headless scan, the tray under Xvfb, the size budget.
bundle-test: $(STAMP)
	ASTROLENS_BUNDLE_TEST=1 $(BIN)/python -m pytest -m bundle tests/packaging $(ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
