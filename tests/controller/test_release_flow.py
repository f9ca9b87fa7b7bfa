"""The middle of the test pyramid: the release, rotation and audit plugins driven by real
``ansible-playbook`` runs on the controller only (no lab, no SSH), in seconds.

Nodes are inventory hosts whose registered reads (``rotate_read``, ``macmesh_signing``) and per-node
outcomes are given as host variables, so every controller-side decision of bootstrap, converge,
rotate and revoke runs as the playbooks run it: gate refusals, the plan, promotion and retirement
of releases, the converge's verdict and repair plan.
"""

import datetime
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
BIN = os.path.dirname(sys.executable)
OLD = "A" * 40
NEW = "B" * 40
HOSTS = {"hk-1": "hk", "jp-1": "jp", "sg-1": "sg"}
SECRET = "pw-NEVER-PRINTED-4711"


def collections_path(tmp):
    if os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        return os.environ["ANSIBLE_COLLECTIONS_PATH"]
    root = os.path.join(tmp, "collections")
    os.makedirs(os.path.join(root, "ansible_collections", "macmesh"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "macmesh", "signing"))
    return root


def write_manifest(root, version, digit, expires):
    from ansible_collections.macmesh.signing.plugins.module_utils._manifest import build_manifest
    folder = os.path.join(root, "profiles-" + version)
    os.makedirs(folder)
    uuid = ("%s" % digit) * 8 + "-1111-1111-1111-111111111111"
    entry = {"uuid": uuid, "name": "App " + version, "filename": uuid + ".mobileprovision", "team_id": "ABCDE12345",
             "team_name": "T", "app_id": "ABCDE12345.app",
             "bundle_id": "app", "platforms": ["iOS"], "created": "2026-01-01T00:00:00Z", "expires": expires,
             "certificates": [NEW if version != "v1" else OLD], "devices": 0, "provisions_all_devices": False,
             "sha256": "0" * 64}
    manifest = build_manifest([entry], version)
    with open(os.path.join(folder, entry["filename"]), "wb") as handle:
        handle.write(b"a profile")
    path = os.path.join(folder, "profiles.json")
    with open(path, "w") as handle:
        json.dump(manifest, handle)
    return path, manifest


class Controller(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(tmp), ANSIBLE_CONFIG="",
                        ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.env.pop("ANSIBLE_CONFIG")
        self.releases = os.path.join(tmp, "releases")
        self.v1, self.m1 = write_manifest(tmp, "v1", 1, "2027-01-01T00:00:00Z")
        self.v2, self.m2 = write_manifest(tmp, "v2", 2, "2028-01-01T00:00:00Z")
        for name in ("old.p12", "new.p12"):
            with open(os.path.join(tmp, name), "wb") as handle:
                handle.write(b"p12")
        with open(os.path.join(tmp, "new.pass"), "w") as handle:
            handle.write(SECRET + "\n")
        from ansible_collections.macmesh.signing.plugins.module_utils import _release
        _release.initial(self.releases, "v1", {"path": self.v1},
                         [{"sha1": OLD, "name": "Apple Distribution: Old", "p12": os.path.join(tmp, "old.p12"),
                           "passphrase": {"var": "vault_old"}}])

    def inventory(self, hostvars):
        """mesh with a region per host, hk-1 and jp-1 signers, sg-1 a builder; host vars as given."""
        hosts = {}
        for host, region in HOSTS.items():
            hosts[host] = dict({"ansible_connection": "local"}, **hostvars.get(host, {}))
        inventory = {"all": {"vars": {"macmesh_releases_dir": self.releases}, "children": {
            "mesh": {"children": dict((region, {"hosts": dict((h, hosts[h]) for h, r in HOSTS.items() if r == region)})
                                      for region in sorted(set(HOSTS.values())))},
            "signers": {"hosts": {"hk-1": {}, "jp-1": {}}},
            "builders": {"hosts": {"sg-1": {}}},
        }}}
        path = os.path.join(self.tmp, "inventory.json")
        with open(path, "w") as handle:
            json.dump(inventory, handle)
        return path

    def play(self, tasks, hostvars=None, extra=None):
        playbook = os.path.join(self.tmp, "play.yml")
        with open(playbook, "w") as handle:
            json.dump([{"name": "controller", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory(hostvars or {}), playbook, "-vvv"]
        if extra:
            argv += ["-e", json.dumps(extra)]
        proc = subprocess.run(argv, env=self.env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=300, check=False)
        assert SECRET not in proc.stdout
        return proc

    def current(self):
        with open(os.path.join(self.releases, "current")) as handle:
            return handle.read().strip()


def gate_task(**args):
    base = {"step": "gate", "ticket": "CHG-1", "approvers": ["alice", "bob"], "force": True,
            "force_reason": "test", "manifest": None, "identities": []}
    base.update(args)
    return {"name": "gate", "macmesh.signing.rotation": base, "register": "rotate_gate"}


def new_identities(ctl):
    return [{"sha1": NEW, "name": "Apple Distribution: New", "p12": os.path.join(ctl.tmp, "new.p12"),
             "passphrase": {"file": os.path.join(ctl.tmp, "new.pass")}}]


def read_of(sha1s, release=None):
    return {"rotate_read": {"identities": [{"sha1": s, "name": s} for s in sha1s],
                            "certificates": [{"sha1": s, "not_after": "2027-06-01T00:00:00Z"} for s in sha1s],
                            "release_state": release, "active_manifest": None,
                            # The promotion gate wants one unlock wrapper everywhere.
                            "wrapper": {"path": "/usr/local/bin/macmesh-keychain-unlock", "sha256": "0" * 64}}}


@pytest.fixture
def ctl(tmp_path):
    return Controller(str(tmp_path))


@pytest.mark.parametrize("args, needle", [
    ({"ticket": ""}, "rotate_ticket"),
    ({"approvers": ["alice", "ALICE "]}, "same person twice"),
    ({"approvers": "alice"}, "exactly two"),
    ({"force_reason": ""}, "rotate_force_reason"),
    ({"phase": "later"}, "rotate_phase must be rotate or retire"),
])
def test_gate_refuses_and_stages_nothing(ctl, args, needle):
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl), **args)])
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "REFUSED: " in proc.stdout and needle in proc.stdout, proc.stdout[-3000:]
    assert sorted(os.listdir(ctl.releases)) == ["current", "v1"]


def test_a_passphrase_value_in_the_identities_is_refused_and_never_printed(ctl):
    identities = [dict(new_identities(ctl)[0], passphrase=SECRET)]
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=identities)])
    assert proc.returncode != 0
    assert "identities[0].passphrase" in proc.stdout and "never hold the value" in proc.stdout
    assert "v2" not in os.listdir(ctl.releases)


def test_a_profile_not_issued_for_the_new_identity_is_refused(ctl):
    other = [dict(new_identities(ctl)[0], sha1="C" * 40)]
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=other)])
    assert proc.returncode != 0 and "list none of the new identities" in proc.stdout


def test_rotation_stages_plans_and_promotes_only_when_every_region_is_green(ctl):
    show_gate = {"name": "show gate", "ansible.builtin.debug": {"msg": "GATE={{ rotate_gate | to_json }}"}}
    plan = {"name": "plan", "macmesh.signing.rotation": {"step": "plan", "gate": "{{ rotate_gate }}",
                                                         "canary_region": "hk", "serial": 1},
            "register": "rotate_plan"}
    close = {"name": "close", "macmesh.signing.rotation": {"step": "close", "gate": "{{ rotate_gate }}"},
             "register": "rotate_close"}
    show = {"name": "show",
            "ansible.builtin.debug": {"msg": "PLAN={{ rotate_plan.plan | to_json }} CLOSE={{ rotate_close | to_json }}"}}
    reads = dict((host, read_of([OLD] if host != "sg-1" else [])) for host in HOSTS)
    # jp-1 rolled back: nothing is promoted.
    outcomes = {"hk-1": {"rotate_outcome": "green", "rotate_started_epoch": 1.0, "rotate_green_epoch": 3.0},
                "jp-1": {"rotate_outcome": "rolled_back", "rotate_message": "verify failed"}}
    hostvars = dict((host, dict(reads[host], **outcomes.get(host, {}))) for host in HOSTS)
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl)), plan, close, show], hostvars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ctl.current() == "v1"
    out = proc.stdout
    assert '\\"canary\\": [\\"hk-1\\"]' in out and '\\"batches\\": [[\\"jp-1\\"], [\\"sg-1\\"]]' in out, out[-4000:]
    assert '\\"status\\": \\"rolled_back\\"' in out
    with open(os.path.join(ctl.releases, "v2", "release.json")) as handle:
        staged = json.load(handle)
    assert staged["status"] == "staged" and staged["serial"] == 2
    assert staged["change"]["ticket"] == "CHG-1" and staged["change"]["approvers"] == ["alice", "bob"]
    assert sorted(i["sha1"] for i in staged["identities"]) == [OLD, NEW]
    assert SECRET not in json.dumps(staged)
    # Every region green: promoted, v1 superseded.
    for host in HOSTS:
        hostvars[host].update(rotate_outcome="green", rotate_started_epoch=1.0, rotate_green_epoch=2.0)
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl)), plan, close, show], hostvars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ctl.current() == "v2"
    statuses = dict((v, json.load(open(os.path.join(ctl.releases, v, "release.json")))["status"]) for v in ("v1", "v2"))
    assert statuses == {"v1": "superseded", "v2": "current"}
    # The same command again after the promotion (an operator re-runs a completed rotation): the
    # gate passes, nothing is staged again, the plan says every node is there already.
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl)), show_gate], hostvars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ctl.current() == "v2"


def test_plan_refuses_an_unread_region_and_names_the_exclusion(ctl):
    plan = {"name": "plan", "macmesh.signing.rotation": {"step": "plan", "gate": "{{ rotate_gate }}"}}
    hostvars = {"hk-1": read_of([OLD]), "jp-1": {"rotate_read": {"unreachable": True, "msg": "ssh: timeout"}},
                "sg-1": read_of([])}
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl)), plan], hostvars)
    assert proc.returncode != 0
    assert "jp-1 could not be read (ssh: timeout)" in proc.stdout
    assert "rotate_exclude_regions" in proc.stdout and ctl.current() == "v1"


def test_promotion_is_refused_while_the_wrapper_differs(ctl):
    plan = {"name": "plan", "macmesh.signing.rotation": {"step": "plan", "gate": "{{ rotate_gate }}"}}
    hostvars = dict((host, read_of([OLD])) for host in HOSTS)
    hostvars["jp-1"]["rotate_read"]["wrapper"]["sha256"] = "1" * 64
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl)), plan], hostvars)
    assert proc.returncode != 0 and "unlock wrapper sha256 differs" in proc.stdout, proc.stdout[-3000:]


def test_window_policy_refuses_an_unforced_rotation_far_from_expiry(ctl):
    plan = {"name": "plan", "macmesh.signing.rotation": {"step": "plan", "gate": "{{ rotate_gate }}"}}
    hostvars = dict((host, read_of([OLD])) for host in HOSTS)
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl), force=False), plan], hostvars)
    assert proc.returncode != 0 and "a rotation runs 7-14 days before that expiry" in proc.stdout


def test_the_gate_refuses_a_rotation_too_late_for_the_window_before_any_node_is_read(ctl):
    """The current manifest alone expires in 3 days: the gate (the first task, on the controller) refuses, and
    nothing is staged; the plan, after the reads, would have refused the same."""
    from ansible_collections.macmesh.signing.plugins.module_utils import _release
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.makedirs(os.path.join(ctl.tmp, "soon"))
    path, _manifest = write_manifest(os.path.join(ctl.tmp, "soon"), "v1", 3, soon)
    releases = os.path.join(ctl.tmp, "releases-soon")
    _release.initial(releases, "v1", {"path": path},
                     [{"sha1": OLD, "name": "Apple Distribution: Old", "p12": os.path.join(ctl.tmp, "old.p12"),
                       "passphrase": {"var": "vault_old"}}])
    before = sorted(os.listdir(releases))
    proc = ctl.play([gate_task(manifest=ctl.v2, identities=new_identities(ctl), force=False, releases_dir=releases)])
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "days: a rotation runs 7-14 days before that expiry" in proc.stdout, proc.stdout[-2000:]
    assert sorted(os.listdir(releases)) == before


def test_release_read_and_the_downgrade_guard(ctl):
    tasks = [
        {"name": "read", "macmesh.signing.release": {}, "register": "macmesh_release"},
        {"name": "guard", "ansible.builtin.debug": {"msg": "GUARD={{ record | to_json | macmesh.signing.release_guard("
                                                           "macmesh_release, 'hk-1') }}"},
         "vars": {"record": {"release": {"version": "v9", "serial": 9, "sha256": "x"}}}},
        {"name": "override", "ansible.builtin.debug": {"msg": "OVERRIDE=[{{ record | macmesh.signing.release_guard("
                                                              "macmesh_release, 'hk-1', true, 'CHG-2') }}]"},
         "vars": {"record": {"release": {"version": "v9", "serial": 9, "sha256": "x"}}}},
    ]
    proc = ctl.play(tasks)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "GUARD=REFUSED: hk-1 runs release v9 (serial 9), newer than the controller's release v1 (serial 1)" in proc.stdout
    assert "OVERRIDE=[]" in proc.stdout


def test_a_bad_release_file_fails_naming_file_and_field(ctl):
    path = os.path.join(ctl.releases, "v1", "release.json")
    with open(path) as handle:
        data = json.load(handle)
    data["identities"][0]["sha1"] = "nope"
    with open(path, "w") as handle:
        json.dump(data, handle)
    proc = ctl.play([{"name": "read", "macmesh.signing.release": {}}])
    assert proc.returncode != 0
    assert "%s: identities[0].sha1: must be the 40-hex-digit SHA-1" % path in proc.stdout


def test_converge_audit_reports_a_node_ahead_and_never_repairs_it(ctl):
    from ansible_collections.macmesh.signing.plugins.module_utils import _release
    desired = _release.read_desired(ctl.releases)
    same = {"schema": 1, "release": {"version": "v1", "serial": 1, "sha256": desired["sha256"]}}
    ahead = {"schema": 1, "release": {"version": "v7", "serial": 7, "sha256": "x"}}
    hostvars = {}
    for host in HOSTS:
        hostvars[host] = {"macmesh_signing": {"release_state": ahead if host == "jp-1" else same, "unavailable": {}}}
    tasks = [
        {"name": "read", "macmesh.signing.release": {}, "register": "converge_release"},
        {"name": "audit",
         "macmesh.signing.mesh_audit": {"release": "{{ converge_release }}", "wrapper_sha256": "0" * 64},
         "register": "audit"},
        {"name": "show", "ansible.builtin.debug": {"msg": "PLAN={{ audit.plan | to_json }} CODES={{ audit.parity.findings"
                                                          " | selectattr('host', 'equalto', 'jp-1') | map(attribute='code')"
                                                          " | list | to_json }}"}},
    ]
    proc = ctl.play(tasks, hostvars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "RELEASE_AHEAD" in proc.stdout
    assert '\\"refused\\": {\\"jp-1\\": [\\"RELEASE_AHEAD\\"]}' in proc.stdout, proc.stdout[-3000:]
    assert '\\"jp-1\\"' not in proc.stdout.split('\\"repair\\": ')[1].split("]")[0]
