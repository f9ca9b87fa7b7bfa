# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the bad-input catalogue (cases.py) through real ansible-playbook runs on localhost.

All task cases run in one ``ansible-playbook -vvv`` (one block per case, the rescue keeps the
play going); each inventory case is one run of the real ``macmesh.signing.bootstrap`` in check
mode. Then, per case: the task failed, the message names the file and field, nothing in the case's
directory changed, and no secret appears in any output. ``conftest.py`` prints the summary line.
"""

import concurrent.futures
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

import cases as catalogue  # noqa: E402  pylint: disable=wrong-import-position

STATS = {"cases": 0, "passed": 0, "written": 0, "secrets": 0, "seconds": 0.0}
# CATALOGUE_ONLY=<prefix>: run only the cases whose id starts with it (while writing a case).
_ONLY = os.environ.get("CATALOGUE_ONLY", "")
catalogue.CASES = [case for case in catalogue.CASES if case.id.startswith(_ONLY)]
catalogue.INVENTORY_CASES = [case for case in catalogue.INVENTORY_CASES if case.id.startswith(_ONLY)]
ALL_CASES = catalogue.CASES + catalogue.INVENTORY_CASES
# Every run's -vvv output is kept here for the post-mortem of a failed case.
KEEP = os.environ.get("CATALOGUE_OUTPUT", os.path.join(ROOT, "tests", "output", "catalogue-output.txt"))


def _ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return candidate if os.path.exists(candidate) else "ansible-playbook"


def _fill(value, ws):
    if isinstance(value, str):
        return value.replace("{ws}", ws)
    if isinstance(value, list):
        return [_fill(item, ws) for item in value]
    if isinstance(value, dict):
        return dict((_fill(key, ws), _fill(item, ws)) for key, item in value.items())
    return value


def snapshot(top):
    """Every entry under ``top``: type, mode, size and content hash (or link target)."""
    state = {}
    for directory, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, top)
            if os.path.islink(path):
                state[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                state[rel] = ("dir", info.st_mode)
            else:
                with open(path, "rb") as handle:
                    state[rel] = ("file", info.st_mode, info.st_size, hashlib.sha256(handle.read()).hexdigest())
    return state


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    import time

    started = time.time()
    top = tmp_path_factory.mktemp("catalogue")
    work = top / "cases"
    work.mkdir()
    # This checkout as the collection (a link, not a copy: never a stale build/ tree).
    link_root = top / "collections" / "ansible_collections" / "macmesh"
    link_root.mkdir(parents=True)
    os.symlink(ROOT, str(link_root / "signing"))
    collections = str(top / "collections")
    secrets_file = top / "secrets.yml"
    secrets_file.write_text(yaml.safe_dump({"catalogue_secret": catalogue.SECRET,
                                            "catalogue_password": catalogue.PASSWORD}))
    os.chmod(str(secrets_file), 0o600)
    # The defaults, not the checkout's or the user's ansible.cfg.
    (top / "ansible.cfg").write_text("[defaults]\n")

    tasks = []
    for case in ALL_CASES:
        ws = work / case.id
        ws.mkdir()
        if case.setup:
            case.setup(ws)
        if case.inventory is not None:
            continue
        task = _fill(copy.deepcopy(case.task), str(ws))
        task = dict([("name", case.id)] + list(task.items()))
        block = {"name": "CASE " + case.id, "block": [task],
                 "rescue": [{"name": case.id + " refused", "ansible.builtin.meta": "noop"}]}
        if case.check_mode:
            block["check_mode"] = True
        tasks.append(block)
    playbook = [{"name": "Bad-input catalogue", "hosts": "localhost", "gather_facts": False,
                 "vars_files": [str(secrets_file)],
                 "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    before = snapshot(str(work))

    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "catalogue_record",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_CONFIG": str(top / "ansible.cfg"),
    })
    outputs = {}
    records = {}

    def play(name, argv, extra_env):
        record = str(top / ("record-%s.json" % name))
        full_env = dict(env, CATALOGUE_RECORD=record, **extra_env)
        job_started = time.time()
        proc = subprocess.run(argv, cwd=str(top), env=full_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, check=False)
        text = proc.stdout.decode("utf-8", "replace")
        data = {}
        if os.path.exists(record):
            with open(record, encoding="utf-8") as handle:
                data = json.load(handle)
        STATS.setdefault("runs", {})[name] = round(time.time() - job_started, 1)
        return name, text, data, proc.returncode

    # Two halves in parallel (the machine has two cores); each is one ansible-playbook -vvv run.
    halves = [tasks[0::2], tasks[1::2]]
    jobs = []
    for index, half in enumerate(half for half in halves if half):
        name = "tasks-%d" % index
        (top / (name + ".yml")).write_text(yaml.safe_dump([dict(playbook[0], tasks=half)], default_flow_style=False,
                                                          sort_keys=False, width=1000))
        jobs.append((name, [_ansible_playbook(), "-vvv", "-i", "localhost,", "-c", "local", str(top / (name + ".yml"))], {}))
    material = catalogue.mesh_material(top)
    catalogue.with_p12(None)(top)
    shared = [case for case in catalogue.INVENTORY_CASES if "own-run" not in case.extra_args]
    runs = [("inventory", shared)] + [("inventory-" + case.id, [case]) for case in catalogue.INVENTORY_CASES
                                      if "own-run" in case.extra_args]
    for name, members in runs:
        text = yaml.safe_dump(catalogue.inventory(members, material), default_flow_style=False)
        (top / (name + ".yml")).write_text(text.replace("{top}", str(top)))
        jobs.append((name, [_ansible_playbook(), "-vvv", "--check", "-i", str(top / (name + ".yml")),
                            "-e", "@" + str(secrets_file), "-e", "ansible_python_interpreter=" + sys.executable,
                            "macmesh.signing.bootstrap"],
                     {"CATALOGUE_CASE": "inventory", "CATALOGUE_GUARD": "exit"}))
    by_run = dict((name, dict((case.inventory[0], case.id) for case in members)) for name, members in runs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for name, text, data, returncode in pool.map(lambda job: play(*job), jobs):
            outputs[name] = (text, returncode)
            if name not in by_run:
                records.update(data)
                continue
            by_host = by_run[name]
            # One run for all inventory cases: each host's failures belong to its case.
            run_record = data.get("inventory", {"failures": [], "escaped": [], "tasks": 0})
            for host, case_id in by_host.items():
                records[case_id] = {
                    # A mesh-wide refusal fails on the controller's run_once host: it counts for the case.
                    "failures": [failure for failure in run_record["failures"]
                                 if failure["host"] == host or len(by_host) == 1],
                    "escaped": run_record["escaped"], "tasks": run_record["tasks"]}
    after = snapshot(str(work))
    STATS["seconds"] = time.time() - started
    (top / "output.txt").write_text("\n".join("==== %s (rc %s)\n%s" % (name, rc, text) for name, (text, rc) in outputs.items()))
    os.makedirs(os.path.dirname(KEEP), exist_ok=True)
    shutil.copy(str(top / "output.txt"), KEEP)
    os.chmod(KEEP, 0o600)
    return {"work": work, "before": before, "after": after, "outputs": outputs, "records": records, "top": top}


def _changes(run_data, case_id):
    prefix = case_id + os.sep
    keys = set(key for key in list(run_data["before"]) + list(run_data["after"]) if key.startswith(prefix))
    return sorted(key for key in keys if run_data["before"].get(key) != run_data["after"].get(key))


def _secrets_in(text):
    return [value for value in (catalogue.SECRET, catalogue.PASSWORD) if value in text]


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_case(run, case):
    STATS["cases"] += 1
    ws = str(run["work"] / case.id)
    record = run["records"].get(case.id)
    changes = _changes(run, case.id)
    STATS["written"] += 1 if changes else 0
    assert record is not None, "case %s never ran (see %s)" % (case.id, KEEP)
    assert not record["escaped"], "%s: a task that could change a node ran: %s" % (case.id, record["escaped"])
    assert not changes, "%s: the failed task changed %s" % (case.id, changes)
    if case.ok:
        assert not record["failures"], record["failures"]
    else:
        assert record["failures"], "%s: no task failed: the bad input was accepted" % case.id
        message = "\n".join(failure["msg"] for failure in record["failures"])
        for fragment in case.expect:
            assert fragment.replace("{ws}", ws) in message, "%s: %r not in the message:\n%s" % (case.id, fragment, message)
    STATS["passed"] += 1


def test_no_secret_in_any_output(run):
    """Neither secret appears in any -vvv output, nor in any file left in the case directories."""
    seen = []
    for name, (text, _rc) in run["outputs"].items():
        seen.extend("%s output: %s" % (name, value) for value in _secrets_in(text))
    for directory, _dirs, files in os.walk(str(run["work"])):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                seen.extend("%s: %s" % (name, value) for value in _secrets_in(handle.read().decode("latin-1")))
    STATS["secrets"] = len(seen)
    assert not seen, seen


def test_no_stray_files_next_to_the_cases(run):
    """Nothing was written outside the case directories either (temp files, retry files, manifests)."""
    expected = {"cases", "collections", "secrets.yml", "tasks-0.yml", "tasks-1.yml", "output.txt", "ansible.cfg",
                "mesh", "keys"}
    stray = [name for name in os.listdir(str(run["top"]))
             if name not in expected and not name.startswith(("record-", "inventory"))]
    assert not stray, stray
