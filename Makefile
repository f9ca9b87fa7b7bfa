# macmesh.signing — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV        ?= $(ROOT)/.venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
export PATH := $(BIN):$(PATH)
# ansible-test needs the checkout under ansible_collections/<namespace>/<name>/.
COLL_ROOT   := $(ROOT)/build/collections
COLL_TREE   := $(COLL_ROOT)/ansible_collections/macmesh/signing
# Test equipment is not part of the collection artifact (galaxy.yml build_ignore), so not of its sanity either.
NOT_SHIPPED := ':!lab' ':!molecule' ':!benchmarks' ':!inventories/lab'
GET_PIP     := $(HOME)/.ansible/test/cache/get_pip_24_2.py
ANSIBLE_TEST_PY ?= 3.11
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
# The supported ansible-core range (meta/runtime.yml requires_ansible): `make compat` runs sanity and
# units on its lowest and highest release, each in a venv of its own (build/core/<version>).
COMPAT_CORE ?= 2.17.14 2.19.14
CORE_VENVS  := $(ROOT)/build/core
# `make artifact`: the tarball with ansible-core alone (this release) plus the declared dependencies.
ARTIFACT_CORE ?= $(lastword $(COMPAT_CORE))

.PHONY: help host-deps venv deps collection-tree test test-lab-lane test-rest-lane unit controller catalogue sanity units compat artifact lint py39 \
        changelog lab-test integration molecule demo demo-down build clean drills drills-quick drills-sample bench bench-controller bench-fleet bench-readme

help:
	@echo "make demo   - lab up, bootstrap all five regions, print the per-node summary"
	@echo "make test   - every test: unit, compat (sanity+units on lowest/highest ansible-core), artifact, lint, py39, lab, emulator, integration, molecule, a drill sample"
	@echo "make bench  - benchmarks on a 5- and a 50-node lab and the controller; regenerates README's table"

# tools/host-deps installs the Debian packages (sshd for the lab, nftables, ...) and the venv: one
# script for make demo, make test and .ci/run, so a fresh machine needs nothing done by hand.
host-deps:
	VENV=$(VENV) $(ROOT)/tools/host-deps

venv: host-deps

# The collection as ansible sees it: a copy of every tracked and untracked-but-not-ignored file.
# MACMESH_TREE_READY=1 (set by `make test` for its two lanes): the tree was just built, keep it, so one
# lane never removes it under the other.
collection-tree: venv
ifndef MACMESH_TREE_READY
	rm -rf $(COLL_TREE) && mkdir -p $(COLL_TREE)
	cd $(ROOT) && git ls-files -co --exclude-standard -z -- . $(NOT_SHIPPED) | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(COLL_TREE)
	# build/ is git-ignored by the checkout; its own empty repository makes ansible-test see the files.
	cd $(COLL_TREE) && git init -q .
endif

$(GET_PIP): tests/ansible-test/get_pip.py
	mkdir -p $(dir $@)
	cp $< $@

# -k: every suite runs and reports, even after one fails; make still exits non-zero.
# compat is sanity + units on the lowest and highest supported ansible-core (the highest is the
# release `make sanity units` use from .venv, so those two are not run again).
# Two lanes side by side (-j2, each suite's output printed whole when it ends): the lab lane
# (integration on 127.0.8) and every other suite one after the other (their labs are on 127.0.5,
# 127.0.9 and 127.0.10). The lab lane is CPU-bound, the other lane waits on pip and ansible-test's
# venvs much of the time, so together they take little more than the lab lane alone.
TEST_LAB_LANE  := integration
TEST_REST_LANE := unit controller catalogue py39 compat artifact lint lab-test molecule drills-quick
test: collection-tree
	$(MAKE) -k -j2 --output-sync=target MACMESH_TREE_READY=1 test-lab-lane test-rest-lane
	@echo "make test: all suites passed"

test-lab-lane:
	$(MAKE) -k $(TEST_LAB_LANE)

test-rest-lane:
	$(MAKE) -k $(TEST_REST_LANE)

unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

# Real ansible-playbook runs of the controller-side plugins (release, rotation, mesh_audit) on
# localhost: the playbooks' decisions in seconds, without the lab.
controller: collection-tree
	$(PY) -m pytest -q -p no:cacheprovider tests/controller

# The bad-input catalogue and the fast playbook tests (tests/catalogue): real ansible-playbook runs on
# localhost, no lab.
catalogue: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/catalogue

py39: venv
	$(BIN)/vermin --target=3.9- --no-tips --violations --eval-annotations \
	  plugins/module_utils plugins/modules roles/unlock_wrapper/files

sanity: collection-tree $(GET_PIP)
	cd $(COLL_TREE) && $(BIN)/ansible-test sanity --venv --python $(ANSIBLE_TEST_PY) --color no

units: collection-tree $(GET_PIP)
	cd $(COLL_TREE) && $(BIN)/ansible-test units --venv --python $(ANSIBLE_TEST_PY) --color no

compat: collection-tree
	$(ROOT)/tools/compat $(COLL_TREE) $(CORE_VENVS) $(COMPAT_CORE)

# tests/artifact: install the built tarball into a fresh collections dir with ansible-core only (no
# `ansible` package) and requirements.txt, the declared collections taken offline from the ansible
# package's bundled copies; syntax-check every playbook; ansible-builder create for examples/ee.
artifact: build
	$(ROOT)/tools/core-venv $(ARTIFACT_CORE) $(CORE_VENVS)/$(ARTIFACT_CORE)-artifact -r $(ROOT)/requirements.txt
	MACMESH_ARTIFACT=$$(ls -t $(ROOT)/build/macmesh-signing-*.tar.gz | head -1) \
	  MACMESH_CORE_VENV=$(CORE_VENVS)/$(ARTIFACT_CORE)-artifact \
	  $(PY) -m pytest -q -p no:cacheprovider tests/artifact

lint: collection-tree
	cd $(ROOT) && $(BIN)/ansible-lint --profile production

changelog: venv
	$(BIN)/antsibull-changelog lint

# Two runs: each directory's conftest is imported as `conftest` by its tests. The emulator's
# account and ansible tests need real nodes: they get a lab of their own on 127.0.10.N.
EMU_LAB := MESHLAB_DIR=$(ROOT)/build/lab-emulator MESHLAB_SUBNET=127.0.10
lab-test: venv
	$(EMU_LAB) lab/meshlab up >/dev/null
	$(EMU_LAB) MACEMU_LAB_DIR=$(ROOT)/build/lab-emulator $(PY) -m pytest -q -p no:cacheprovider lab/emulator/tests \
	  || { $(EMU_LAB) lab/meshlab down --purge; exit 1; }
	$(EMU_LAB) lab/meshlab down --purge >/dev/null
	$(PY) -m pytest -q -p no:cacheprovider lab/tests

integration: collection-tree
	$(PY) -m pytest -q -p no:cacheprovider tests/integration

# Crash and outage drills (docs/outages.md), each run on a lab of its own (127.0.16). `make test` runs
# the quick sample (drills-quick: a kill at a boundary, one inside a task and a reboot of the bootstrap, a
# kill of the rotation's canary, a killed revocation, a hung region during converge), `make drills-sample`
# the larger sample, `make drills` the sweep (a kill at every task boundary of the bootstrap).
DRILL_LAB := MACMESH_IT_SUBNET=127.0.16 MACMESH_IT_LAB_DIR=$(ROOT)/build/lab-drills
drills-quick: collection-tree
	$(DRILL_LAB) DRILL_SAMPLE=quick $(PY) -m pytest -q -p no:cacheprovider tests/drills

drills-sample: collection-tree
	$(DRILL_LAB) $(PY) -m pytest -q -p no:cacheprovider tests/drills

# The full crash sweep: a kill at every task boundary of the bootstrap (long: see docs/outages.md).
drills: collection-tree
	$(DRILL_LAB) DRILL_POINTS=$${DRILL_POINTS:-all} $(PY) -m pytest -q -p no:cacheprovider tests/drills

molecule: collection-tree
	# An explicit scenario glob: the top-level molecule/ layout without the "should migrate" warning.
	cd $(ROOT) && MOLECULE_GLOB="molecule/*/molecule.yml" $(BIN)/molecule test

# Benchmarks (not part of make test): ratios measured side by side in one run, README table regenerated
# from the results. bench-fleet needs root and brings up a 5- and a 50-node lab on BENCH_LABS.
BENCH_LABS ?= 5:127.0.61:/tmp/macmesh-bench-5 50:127.0.62:/tmp/macmesh-bench-50
BENCH_ARGS ?=
bench: bench-controller bench-fleet bench-readme

bench-controller: venv
	$(PY) benchmarks/mesh_parity_bench.py --sizes 1000 10000 --json benchmarks/results/controller.json

bench-fleet: collection-tree
	$(PY) benchmarks/fleet_bench.py $(foreach lab,$(BENCH_LABS),--lab $(lab)) $(BENCH_ARGS) --out benchmarks/results/fleet.json

bench-readme: venv
	$(PY) benchmarks/render_readme.py

build: venv
	mkdir -p build
	$(BIN)/ansible-galaxy collection build --force --output-path build $(ROOT)

demo: collection-tree build
	$(BIN)/ansible-galaxy collection install --force -p $(COLL_ROOT) build/macmesh-signing-*.tar.gz
	$(PY) lab/demo.py

demo-down:
	lab/meshlab down

clean:
	rm -rf build tests/output .pytest_cache
