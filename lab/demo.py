#!/usr/bin/env python3
"""`make demo`: the whole product on one Linux machine, against the five-node lab.

Steps: lab up (reused when already running) -> fake demo signing material -> bootstrap all five
regions -> compliance audit with reports -> how to look and how to tear down. Every step is the
command a platform engineer would type; they are printed before they run.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STATE = os.environ.get("MESHLAB_DIR") or os.path.join(HERE, ".state")
DEMO_DIR = os.path.join(STATE, "demo")
REPORTS = os.path.join(REPO, "reports")
BIN = os.path.dirname(sys.executable)


def step(title, argv, check=True):
    print("\n==> %s\n    $ %s" % (title, " ".join(argv)), flush=True)
    started = time.monotonic()
    result = subprocess.run(argv, cwd=REPO, check=False)
    print("    (%.1f s, exit %d)" % (time.monotonic() - started, result.returncode), flush=True)
    if check and result.returncode != 0:
        sys.exit("demo stopped: '%s' failed (exit %d)" % (title, result.returncode))
    return result.returncode


def lab_is_up():
    result = subprocess.run([os.path.join(HERE, "meshlab"), "status", "--json"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return False
    try:
        nodes = json.loads(result.stdout)
    except ValueError:
        return False
    states = [node.get("state") for node in (nodes.values() if isinstance(nodes, dict) else nodes)]
    return bool(states) and all(state == "up" for state in states)


def main():
    playbook = os.path.join(BIN, "ansible-playbook")
    if lab_is_up():
        print("==> lab already up (lab/meshlab status): reusing it")
    else:
        step("Start the five-node lab (hk, jp, kr, sg, us on 127.0.1.1-5)", [os.path.join(HERE, "meshlab"), "up"])
    step("Generate clearly fake demo signing material", [sys.executable, os.path.join(HERE, "demo_assets.py"), "--out", DEMO_DIR])
    step("Bootstrap every region", [playbook, "-i", "inventories/lab", "macmesh.signing.bootstrap"])
    audit_rc = None
    if os.path.exists(os.path.join(REPO, "playbooks", "converge.yml")):
        audit_rc = step("Compliance audit of the whole mesh", [playbook, "-i", "inventories/lab", "macmesh.signing.converge",
                                                             "-e", "macmesh_reports_dir=%s" % REPORTS], check=False)
    print("""
==> Done.
    The per-node summary is the last task of the bootstrap output above.""")
    if audit_rc is not None:
        print("    Compliance reports (audit exit %d): %s/compliance.html, compliance.json, compliance.junit.xml"
              % (audit_rc, REPORTS))
    print("""    Look around:  lab/meshlab exec hk-mini-01 -- security find-identity -v -p codesigning \\
                    /Users/ci-build/Library/Keychains/ci-build.keychain-db
    Tear down:    make demo-down      (or: lab/meshlab down --purge to also forget keys and demo material)""")


if __name__ == "__main__":
    main()
