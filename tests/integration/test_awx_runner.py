"""The converge the way AWX/AAP runs it: ansible-runner over an AWX-shaped private data directory.

The job's private data directory holds what AWX writes for a job and nothing else:
- project/: examples/awx/project (the project checkout, the job's working directory) with the lab's
  signing material in material/ (found through macmesh_material_dir, not inventory_dir);
- inventory/hosts: an executable script printing the inventory as AWX serves an imported source from
  its database (hosts, groups, variables; no group_vars/ or files around it);
- env/extravars: the job template's extra variables; env/envvars: the custom credentials' injectors
  (MACMESH_KEYCHAIN_PASSWORD_FILE, MACMESH_P12_PASSPHRASES_FILE) pointing at files AWX writes into the
  private data directory; env/ssh_key: the Machine credential (ansible-runner loads it into ssh-agent).

Exit status: 0 for a compliant mesh, 2 only for non-compliance, 4 when an input cannot be read (the
manifest: before, such a job exited 2 like a non-compliant mesh).
"""

import json
import os
import shutil
import stat
import subprocess

import pytest
import yaml

from labkit import BIN, REPO, make_tempdir

ansible_runner = pytest.importorskip("ansible_runner")

PROJECT = os.path.join(REPO, "examples", "awx", "project")
REGIONS = ["hk", "jp", "kr", "sg", "us"]


def _write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _lab_overrides(lab):
    """What differs between the example production inventory and the lab (public values only)."""
    ssh = os.path.join(lab.state_dir, "ssh")
    with open(os.path.join(ssh, "id_ed25519.pub")) as handle:
        pubkey = handle.read().strip()
    all_vars = {
        "ansible_user": "root",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes "
                                   "-o ServerAliveInterval=5 -o ServerAliveCountMax=2" % os.path.join(ssh, "known_hosts"),
        # The Machine credential's public key is the verify key too.
        "ci_user_authorized_keys": [pubkey],
        "profile_mounts_team_ids": [lab.demo["team_id"]],
        "macmesh_max_key_copies": 4,
        "runner_identity_region": "{{ group_names | intersect(%s) | first }}" % json.dumps(REGIONS),
        "runner_identity_oidc_audience": "macmesh-ci-lab-{{ runner_identity_region }}",
    }
    signer_vars = {"keychain_identities": [{
        "src": "{{ macmesh_material_dir }}/identities/distribution.p12",
        "passphrase": "{{ macmesh_p12_passphrases.distribution }}",
        "sha1": lab.demo["identity_sha1"],
    }]}
    return all_vars, signer_vars


def _awx_inventory(lab, work):
    """The inventory document AWX serves for the project's inventory source (lab hosts instead of prod)."""
    source = os.path.join(work, "source")
    shutil.copytree(os.path.join(PROJECT, "inventories", "prod"), source)
    with open(os.path.join(lab.state_dir, "inventory.yml")) as handle:
        lab_inventory = yaml.safe_load(handle)
    all_vars, signer_vars = _lab_overrides(lab)
    _write(os.path.join(source, "hosts.yml"), yaml.safe_dump(lab_inventory), 0o644)
    _write(os.path.join(source, "group_vars", "all", "zz_lab.yml"), yaml.safe_dump(all_vars), 0o644)
    _write(os.path.join(source, "group_vars", "signers", "zz_lab.yml"), yaml.safe_dump(signer_vars), 0o644)
    # AWX's inventory import: ansible-inventory --list --export (variables stay untemplated).
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list", "--export"],
                          env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert "{{" in json.dumps(document), "the imported variables must keep their templates"
    return document


def _secret(path):
    with open(path) as handle:
        return handle.read().strip()


@pytest.fixture(scope="module")
def awx(bootstrapped):
    """A bootstrapped lab and a factory of AWX-shaped jobs."""
    lab = bootstrapped
    work = make_tempdir()
    inventory = _awx_inventory(lab, work)
    material = {
        "profiles": lab.demo["profiles_dir"],
        "manifest": lab.demo["manifest"],
        "p12": lab.demo["p12"],
    }
    keychain_password = _secret(os.path.join(lab.state_dir, "secrets", "keychain_password"))
    p12_passphrase = _secret(lab.demo["p12_passphrase_file"])
    with open(os.path.join(lab.state_dir, "ssh", "id_ed25519")) as handle:
        ssh_key = handle.read()

    def job(name, playbook="playbooks/converge.yml", extravars=None, envvars=None):
        pdd = os.path.join(work, name)
        project = os.path.join(pdd, "project")
        shutil.copytree(PROJECT, project)
        shutil.copytree(material["profiles"], os.path.join(project, "material", "profiles"), dirs_exist_ok=True)
        shutil.copy(material["manifest"], os.path.join(project, "material", "profiles", "profiles.json"))
        shutil.copy(material["p12"], os.path.join(project, "material", "identities", "distribution.p12"))
        # The inventory: one generated script, as AWX writes it.
        _write(os.path.join(pdd, "inventory", "hosts"),
               "#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n" % json.dumps(inventory), 0o700)
        # Credential file injectors: files in the private data directory, their paths in the env.
        _write(os.path.join(pdd, "tmp_keychain"), keychain_password)
        _write(os.path.join(pdd, "tmp_p12"), yaml.safe_dump({"distribution": p12_passphrase}))
        _write(os.path.join(pdd, "env", "ssh_key"), ssh_key)
        _write(os.path.join(pdd, "ansible.cfg"), "[defaults]\n", 0o644)
        reports = os.path.join(work, name + "-reports")
        env = {
            "MACMESH_KEYCHAIN_PASSWORD_FILE": os.path.join(pdd, "tmp_keychain"),
            "MACMESH_P12_PASSPHRASES_FILE": os.path.join(pdd, "tmp_p12"),
            # An execution environment: the collection installed, no checkout ansible.cfg.
            "ANSIBLE_COLLECTIONS_PATH": lab.collections,
            "ANSIBLE_CONFIG": os.path.join(pdd, "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        }
        env.update(envvars or {})
        _write(os.path.join(pdd, "env", "envvars"), yaml.safe_dump(env))
        extra = {"macmesh_reports_dir": reports, "macmesh_correlation_id": "awx-%s" % name}
        extra.update(extravars or {})
        _write(os.path.join(pdd, "env", "extravars"), yaml.safe_dump(extra))
        result = ansible_runner.run(private_data_dir=pdd, playbook=playbook, ident=name, quiet=True)
        stdout = result.stdout.read()
        lab.assert_no_secret(stdout, "ansible-runner %s stdout" % name)
        stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
        artifact = stats[-1]["event_data"].get("artifact_data", {}) if stats else {}
        return {"rc": result.rc, "status": result.status, "stdout": stdout, "artifact": artifact,
                "reports": reports, "pdd": pdd}

    return job


def test_compliant_mesh_exits_0_with_the_verdict_as_artifact(awx):
    job = awx("compliant")
    assert (job["rc"], job["status"]) == (0, "successful"), job["stdout"][-6000:]
    verdict = job["artifact"]["macmesh_compliance"]
    assert verdict["ok"] is True and verdict["summary"]["errors"] == 0, verdict
    assert verdict["correlation_id"] == "awx-compliant" and verdict["manifest_version"]
    # The configurable reports directory, outside the private data directory.
    assert verdict["reports_dir"] == job["reports"]
    with open(os.path.join(job["reports"], "compliance.json")) as handle:
        assert json.load(handle)["ok"] is True
    # Secrets only in the credential files: not in the inventory AWX stores, not in the job output.
    with open(os.path.join(job["pdd"], "inventory", "hosts")) as handle:
        awx_inventory = handle.read()
    assert _secret(os.path.join(job["pdd"], "tmp_keychain")) not in awx_inventory
    assert stat.S_IMODE(os.stat(os.path.join(job["pdd"], "tmp_keychain")).st_mode) == 0o600


def test_non_compliance_exits_2(awx):
    # A policy of one key copy: four signers hold the distribution key.
    job = awx("not-compliant", extravars={"macmesh_max_key_copies": 1})
    assert (job["rc"], job["status"]) == (2, "failed"), job["stdout"][-6000:]
    verdict = job["artifact"]["macmesh_compliance"]
    assert verdict["ok"] is False and verdict["summary"]["errors"] > 0
    assert "KEY_COPIES_EXCEEDED" in job["stdout"]


def test_unreadable_manifest_is_not_exit_2(awx):
    # docs/scheduling.md's old recipe: material under {{ inventory_dir }}/files, which is not there
    # when AWX serves the inventory (inventory_dir is the private data dir's inventory/).
    job = awx("inventory-dir", extravars={"profile_mounts_manifest": "{{ inventory_dir }}/files/profiles/profiles.json"})
    assert job["rc"] == 4 and job["status"] == "failed", job["stdout"][-6000:]
    assert "%s/inventory/files/profiles/profiles.json: profile_mounts_manifest: cannot be read" % job["pdd"] in job["stdout"]
    assert "exit 4" in job["stdout"]
    assert not job["artifact"], "nothing was audited, so no verdict is published"
    assert not os.path.exists(os.path.join(job["reports"], "compliance.json"))


def test_missing_material_dir_is_not_exit_2(awx):
    job = awx("no-material", envvars={"MACMESH_MATERIAL_DIR": "/nonexistent/material"})
    assert job["rc"] == 4, job["stdout"][-6000:]
    assert "/nonexistent/material/profiles/profiles.json: profile_mounts_manifest: cannot be read" in job["stdout"]
