# Set-up and everyday commands. Every target creates .venv and installs what it needs on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# The CPU build of torch installs first where no GPU is present (an unpinned torch pulls a CUDA build).
TORCH_CPU_VERSION ?= 2.13.0
# Headless rendering: EGL needs a GPU, OSMesa (Debian's libosmesa6) works everywhere.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
export MUJOCO_GL ?= $(if $(HAS_GPU),egl,osmesa)

DEMO_DIR ?= demo_output

# The optional-dependency groups `make install` installs: all of them (tests/test_lowest_requirements.py checks).
EXTRAS := learn,video,dev,hub,ray,lerobot
LOWEST_VENV ?= .venv-lowest
LOWEST_PY := $(LOWEST_VENV)/bin/python
LOWEST_STAMP := $(LOWEST_VENV)/.installed-$(shell cat pyproject.toml tools/lowest_requirements.py | cksum | cut -d' ' -f1)

.PHONY: demo test test-lowest bench leaderboard lint system-deps install clean

# The main job on small defaults: dynamic demos from one source demo per task (Stack with drifting cubes,
# MugDrawer with a cabinet that slides and turns, TwoArmTrayLift with drifting cubes and tray,
# TwoArmPouring with a drifting bowl), their statistics, one episode of each rendered.
DEMO_ENV := MINARI_DATASETS_PATH=$(CURDIR)/$(DEMO_DIR)/datasets DMG_WORK_DIR=$(CURDIR)/$(DEMO_DIR)/work
demo: install
	rm -rf $(DEMO_DIR)/datasets $(DEMO_DIR)/work
	$(DEMO_ENV) $(VENV)/bin/dmg generate stack --source 1 --num-demos 10 --dynamics slow
	$(DEMO_ENV) $(VENV)/bin/minari show dmg/stack/dmp-slow-v0
	$(DEMO_ENV) $(VENV)/bin/dmg view dmg/stack/dmp-slow-v0 --episode 0 --out $(DEMO_DIR)/stack_episode_0.gif
	$(DEMO_ENV) $(VENV)/bin/dmg generate mug_drawer --source 1 --num-demos 4 --dynamics cabinet
	$(DEMO_ENV) $(VENV)/bin/minari show dmg/mug_drawer/dmp-cabinet-v0
	$(DEMO_ENV) $(VENV)/bin/dmg view dmg/mug_drawer/dmp-cabinet-v0 --episode 0 --camera frontview \
		--out $(DEMO_DIR)/mug_drawer_episode_0.gif
	$(DEMO_ENV) $(VENV)/bin/dmg generate tray_lift --source 1 --num-demos 4 --dynamics slow
	$(DEMO_ENV) $(VENV)/bin/minari show dmg/tray_lift/dmp-slow-v0
	$(DEMO_ENV) $(VENV)/bin/dmg view dmg/tray_lift/dmp-slow-v0 --episode 0 --out $(DEMO_DIR)/tray_lift_episode_0.gif
	$(DEMO_ENV) $(VENV)/bin/dmg generate pouring --source 1 --num-demos 2 --dynamics slow
	$(DEMO_ENV) $(VENV)/bin/minari show dmg/pouring/dmp-slow-v0
	$(DEMO_ENV) $(VENV)/bin/dmg view dmg/pouring/dmp-slow-v0 --episode 0 --out $(DEMO_DIR)/pouring_episode_0.gif

test: install
	$(PY) -m pytest -q

# The oldest versions we declare: every direct dependency (core and every extra) at its `>=` floor in
# pyproject.toml, in its own virtual environment, then the suite and ruff. tools/lowest_requirements.py
# derives the pins from pyproject.toml and, after the install, prints the versions and fails unless each is its
# floor, so a floor cannot drift from what is tested. Other packages resolve to the newest they allow.
test-lowest: system-deps $(LOWEST_STAMP)
	$(LOWEST_PY) tools/lowest_requirements.py --check
	$(LOWEST_PY) -m pytest -q
	$(LOWEST_VENV)/bin/ruff check dmg_envs tests benchmarks examples tools

bench: install
	$(PY) benchmarks/bench_env.py
	$(PY) benchmarks/bench_controller.py
	$(PY) benchmarks/bench_demonstrators.py
	$(PY) benchmarks/bench_vs_robosuite.py
	$(PY) benchmarks/bench_dynamics.py
	$(PY) benchmarks/bench_dynamics.py --env-id dmg/MugDrawer-v0 --episodes 200
	$(PY) benchmarks/bench_generation.py
	$(PY) benchmarks/bench_images.py

# The leaderboard's ranked rows (a day or more on 2 cores): every command in leaderboard/commands.txt (datasets,
# each row's recipe per training seed, the protocol, the entry), the SAC curves, then the tables.
LEADERBOARD_COMMANDS := leaderboard/commands.txt
leaderboard: install
	grep -v -e '^\s*#' -e '^\s*$$' $(LEADERBOARD_COMMANDS) | while IFS= read -r command; do \
		echo "$$command"; PATH="$(abspath $(VENV))/bin:$$PATH" sh -c "$$command" </dev/null || exit 1; \
	done
	$(PY) benchmarks/bench_sac.py
	$(VENV)/bin/dmg leaderboard --html leaderboard/site

lint: install
	$(VENV)/bin/ruff check dmg_envs tests benchmarks examples tools

install: system-deps $(STAMP)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@if [ -z "$(HAS_GPU)" ] && ! $(PY) -c "import torch" >/dev/null 2>&1; then \
		echo "no GPU: installing the CPU build of torch $(TORCH_CPU_VERSION)"; \
		$(PIP) install --quiet "torch==$(TORCH_CPU_VERSION)"; \
	fi
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

# A fresh environment whenever the floors change. torch's pin installs as in `install` (torch==<version>).
$(LOWEST_STAMP): pyproject.toml tools/lowest_requirements.py
	rm -rf $(LOWEST_VENV)
	python3 -m venv $(LOWEST_VENV)
	$(LOWEST_PY) -m pip install --quiet --upgrade pip
	$(LOWEST_PY) tools/lowest_requirements.py > $(LOWEST_VENV)/floors.txt
	$(LOWEST_PY) -m pip install --quiet -r $(LOWEST_VENV)/floors.txt \
		-e ".[$$($(LOWEST_PY) tools/lowest_requirements.py --extras)]"
	touch $@

# OSMesa for headless rendering on CPU, chromium and its driver for the leaderboard page's browser test
# (Debian/Ubuntu). Installed when missing and we may use apt.
SYSTEM_PACKAGES := $(if $(filter osmesa,$(MUJOCO_GL)),$(if $(shell ldconfig -p 2>/dev/null | grep libOSMesa),,libosmesa6)) \
	$(if $(shell command -v chromedriver || ls /usr/lib/chromium/chromedriver 2>/dev/null),,chromium chromium-driver)
system-deps:
	@if [ -n "$(strip $(SYSTEM_PACKAGES))" ]; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
			sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			echo "warning: missing system packages: $(strip $(SYSTEM_PACKAGES)); install them with apt (OSMesa renders"; \
			echo "headless on CPU, chromium and chromium-driver run the leaderboard page's browser test)"; \
		fi; \
	fi

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(DEMO_DIR) .pytest_cache build *.egg-info
