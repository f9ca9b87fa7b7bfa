#!/usr/bin/env python3
"""`make demo`: the whole product on one Linux machine, against the five-node lab.

Steps: lab up (reused when already running) -> fake demo signing material -> bootstrap all five
regions -> compliance audit with reports -> rotation rehearsal (renewed identity and profiles,
canary region first, time to green) -> audit of the rotated mesh -> how to look and how to tear
down. Every step is the command a platform engineer would type; they are printed before they run.
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


def write_vars(path, data):
    """Extra vars that hold a secret go through a 0600 file (-e @file), never the command line."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return "@" + path


def rehearse_rotation(playbook):
    """Rotate to renewed material (forced: the demo material is far from its expiry window).

    The rotation stages the next release, applies it canary region first, and promotes it (the
    controller's releases/current moves) once every region is green: afterwards the plain audit,
    and a plain bootstrap, work from the renewed release without any extra variables.
    """
    renewal_dir = os.path.join(STATE, "demo-renewal")
    vars_file = os.path.join(renewal_dir, "rotate-vars.json")
    if os.path.exists(vars_file):
        # A second `make demo` re-runs the same rotation: it finds every node on demo-2 and changes nothing.
        print("\n==> Renewed material already issued (%s): the rotation continues where it stopped" % renewal_dir)
        return rotate(playbook, "@" + vars_file)
    argv = [sys.executable, os.path.join(HERE, "demo_assets.py"), "--out", DEMO_DIR, "--renewal", renewal_dir,
            "--version", "demo-2"]
    print("\n==> Issue renewed (fake) identity and profiles for a rotation rehearsal\n    $ %s" % " ".join(argv), flush=True)
    renewal = json.loads(subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True).stdout)
    rotate_vars = write_vars(vars_file, {
        "rotate_ticket": "DEMO-1", "rotate_approvers": ["demo-operator-a", "demo-operator-b"],
        "rotate_force": True, "rotate_force_reason": "make demo rehearsal: the demo material is far from expiry",
        "rotate_manifest": renewal["manifest"], "rotate_profiles_dir": renewal["profiles_dir"],
        # A release names where a passphrase comes from, never the value: here a file (in production
        # a vault-encrypted file or a vault variable).
        "rotate_identities": renewal["identities"], "rotate_reports_dir": REPORTS,
    })
    return rotate(playbook, rotate_vars)


def rotate(playbook, rotate_vars):
    step("Rotation rehearsal: stage release demo-2, canary region hk first, then the others, promote",
         [playbook, "-i", "inventories/lab", "macmesh.signing.rotate", "-e", rotate_vars])
    return step("Compliance audit of the rotated mesh (release demo-2: old and new identities overlap)",
                [playbook, "-i", "inventories/lab", "macmesh.signing.converge", "-e", "macmesh_reports_dir=%s" % REPORTS],
                check=False)


def main():
    playbook = os.path.join(BIN, "ansible-playbook")
    if lab_is_up():
        print("==> lab already up (lab/meshlab status): reusing it")
    else:
        step("Start the five-node lab (hk, jp, kr, sg, us on 127.0.1.1-5)", [os.path.join(HERE, "meshlab"), "up"])
    step("Generate clearly fake demo signing material", [sys.executable, os.path.join(HERE, "demo_assets.py"), "--out", DEMO_DIR])
    step("Bootstrap every region", [playbook, "-i", "inventories/lab", "macmesh.signing.bootstrap"])
    step("Compliance audit of the whole mesh", [playbook, "-i", "inventories/lab", "macmesh.signing.converge",
                                                "-e", "macmesh_reports_dir=%s" % REPORTS])
    audit_rc = rehearse_rotation(playbook)
    print("""
==> Done.
    The per-node summary is the last task of the bootstrap output above.""")
    print("    Reports (last audit exit %d): %s/compliance.html, compliance.json, compliance.junit.xml,"
          " rotation.json" % (audit_rc, REPORTS))
    print("""    Releases:     lab/.state/demo/releases/ (current names the release the mesh runs)
    Look around:  lab/meshlab exec hk-mini-01 -- security find-identity -v -p codesigning \\
                    /Users/ci-build/Library/Keychains/ci-build.keychain-db
    Tear down:    make demo-down      (or: lab/meshlab down --purge to also forget keys and demo material)""")


if __name__ == "__main__":
    main()
