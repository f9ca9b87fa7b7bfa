"""playbooks/converge.yml against the five-node lab: a clean audit, every drift kind of
docs/compliance.md (audit -> enforce -> audit), an unreachable node, and no secret in -vvv output.

Drifts are injected with `lab/meshlab exec` (never through Ansible). To stay fast, one drift per
node is injected at once on different nodes, so one audit/enforce/audit cycle covers five kinds;
each node must then be reported with its own code.
"""

import base64
import json
import os
import subprocess

import pytest

from labkit import BIN, HOSTS, KEYCHAIN, MESHLAB, PROFILE_ROOT, REPO, WRAPPER, Run, make_tempdir

CONVERGE = os.path.join(REPO, "playbooks", "converge.yml")
REGION = dict((host, host[:2]) for host in HOSTS)
# The lab has four signers holding the same distribution identity.
POLICY = {"macmesh_max_key_copies": 4}
# Consequences a drift may have on the other nodes (one more holder pushes every holder over the limit).
SIDE_EFFECTS = {"KEY_COPIES_EXCEEDED"}
WRAPPER_LOG = "/Library/Logs/MacMesh/keychain-unlock.log"
GH_TOKEN_FILE = "/Users/ci-build/.config/gh/hosts.yml"


class Converge(object):
    def __init__(self, lab):
        self.lab = lab
        self.reports = make_tempdir()

    def run(self, *args, enforce=False, extra=None):
        extra_vars = dict(POLICY, macmesh_reports_dir=self.reports, macmesh_enforce=enforce)
        extra_vars.update(extra or {})
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.lab.inventory, CONVERGE,
                "-e", json.dumps(extra_vars)] + list(args)
        proc = subprocess.run(argv, env=self.lab.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=900, check=False)
        run = Run(proc)
        with open(os.path.join(self.reports, "compliance.json")) as handle:
            run.report = json.load(handle)
        return run

    def security_i(self, node, script):
        """`security -i` as ci-build with the script on stdin: secrets never reach an argv."""
        proc = subprocess.run([MESHLAB, "exec", node, "-u", "ci-build", "--", "/usr/bin/security", "-i"],
                              input=script, env=self.lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120, check=False)
        assert proc.returncode == 0 and "returned" not in proc.stderr, (node, proc.stdout, proc.stderr)

    def password(self):
        with open(os.path.join(self.lab.state_dir, "secrets", "keychain_password")) as handle:
            return handle.read().strip()

    def unlocked(self, *lines):
        return "".join(['unlock-keychain -p "%s" "%s"\n' % (self.password(), KEYCHAIN)]
                       + [line + "\n" for line in lines] + ['lock-keychain "%s"\n' % KEYCHAIN])

    def import_p12(self, node, p12_path, passphrase):
        with open(p12_path, "rb") as handle:
            data = base64.b64encode(handle.read()).decode()
        self.lab.sh(node, "echo %s | base64 -d > /tmp/drift.p12 && chmod 644 /tmp/drift.p12" % data)
        self.security_i(node, self.unlocked('import /tmp/drift.p12 -k "%s" -P "%s" -T /usr/bin/codesign'
                                            % (KEYCHAIN, passphrase)))
        self.lab.sh(node, "rm -f /tmp/drift.p12")


def codes_by_host(report, key="findings"):
    found = {}
    source = report if key == "findings" else report[key]
    for finding in source["findings"]:
        found.setdefault(finding["host"], set()).add(finding["code"])
    return found


def regions_of(report, key="findings"):
    source = report if key == "findings" else report[key]
    return dict((f["host"], f["region"]) for f in source["findings"])


@pytest.fixture(scope="module")
def converge(bootstrapped):
    """The bootstrapped mesh (restored from the session's snapshot)."""
    return Converge(bootstrapped)


def test_clean_mesh_is_compliant_and_audit_changes_nothing(converge):
    first = converge.run()
    assert first.rc == 0, first
    assert first.report["ok"] is True and first.report["findings"] == [], first.report["findings"]
    assert sorted(first.report["hosts"]) == HOSTS
    second = converge.run()
    assert second.rc == 0, second
    assert all(r["changed"] == 0 for r in second.recap.values()), second
    for name in ("compliance.json", "compliance.junit.xml", "compliance.html", "compliance.jsonl"):
        assert os.path.getsize(os.path.join(converge.reports, name)) > 0


def other_identity():
    """A second (fake) distribution identity, as a p12 with a passphrase: the 'extra identity' drift."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Distribution: Stray Identity (STRAY00001)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=300)).sign(key, hashes.SHA256()))
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
                  .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                  .build(b"stray-pass"))
    path = os.path.join(make_tempdir(), "stray.p12")
    with open(path, "wb") as handle:
        handle.write(pkcs12.serialize_key_and_certificates(b"stray", key, cert, None, encryption))
    return path, "stray-pass"


def _profile_file(lab, node):
    return lab.sh(node, "ls %s/current/*.mobileprovision | head -1" % PROFILE_ROOT).stdout.strip()


def _version_dir(lab, node):
    return lab.sh(node, "readlink -f %s/current" % PROFILE_ROOT).stdout.strip()


# Each group: node -> (drift, code the node must be reported with).
def group_one(c):
    lab = c.lab
    lab.sh("hk-mini-01", "echo '# edited' >> %s" % WRAPPER)
    lab.sh("jp-mini-01", "printf x >> '%s'" % _profile_file(lab, "jp-mini-01"))
    lab.sh("kr-mini-01", "security list-keychains -d user -s /Users/ci-build/Library/Keychains/login.keychain-db",
           user="ci-build")
    c.import_p12("sg-mini-01", lab.demo["p12"], open(lab.demo["p12_passphrase_file"]).read().strip())
    c.security_i("us-mini-01", c.unlocked('set-keychain-settings -t 60 "%s"' % KEYCHAIN))
    return {"hk-mini-01": "WRAPPER_MISMATCH", "jp-mini-01": "PROFILE_SHA_MISMATCH", "kr-mini-01": "SEARCH_LIST",
            "sg-mini-01": "KEY_ON_BUILDER", "us-mini-01": "KEYCHAIN_SETTINGS"}


def group_two(c):
    lab = c.lab
    stray, passphrase = other_identity()
    c.import_p12("hk-mini-01", stray, passphrase)
    # A profile the manifest does not list, next to the manifest's ones.
    with open(os.path.join(REPO, "tests", "unit", "fixtures", "profiles", "match_test.mobileprovision"), "rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    lab.sh("jp-mini-01", "echo %s | base64 -d > '%s/98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision'"
           % (data, _version_dir(lab, "jp-mini-01")))
    c.security_i("kr-mini-01", c.unlocked('delete-identity -Z %s "%s"' % (lab.demo["identity_sha1"], KEYCHAIN)))
    lab.sh("sg-mini-01", "chmod 0777 '%s'" % _version_dir(lab, "sg-mini-01"))
    lab.sh("us-mini-01", "rm -f %s" % KEYCHAIN)
    return {"hk-mini-01": "IDENTITY_UNDECLARED", "jp-mini-01": "PROFILE_EXTRA", "kr-mini-01": "IDENTITY_MISSING",
            "sg-mini-01": "PROFILE_DIR_WRITABLE", "us-mini-01": "KEYCHAIN_MISSING"}


def group_three(c):
    lab = c.lab
    lab.sh("hk-mini-01", "rm -f '%s'" % _profile_file(lab, "hk-mini-01"))
    lab.sh("jp-mini-01", "chmod 0644 %s" % KEYCHAIN)
    # The log's append-only flag cleared, as single-user mode can (chflags nosappnd is refused at
    # securelevel > 0, so the lab does it with the Linux tool); enforce seals it again.
    lab.sh("kr-mini-01", "chattr -a %s" % WRAPPER_LOG)
    return {"hk-mini-01": "PROFILE_MISSING", "jp-mini-01": "KEYCHAIN_PERMISSIONS", "kr-mini-01": "WRAPPER_LOG_UNSEALED"}


@pytest.mark.parametrize("inject", [group_one, group_two, group_three], ids=["group1", "group2", "group3"])
def test_drift_is_reported_then_repaired(converge, inject):
    expected = inject(converge)

    audit = converge.run()
    assert audit.rc != 0, audit
    found = codes_by_host(audit.report)
    regions = regions_of(audit.report)
    for host, code in expected.items():
        assert code in found.get(host, set()), (host, code, audit.report["findings"])
        assert regions[host] == REGION[host]
        assert audit.report["hosts"][host]["ok"] is False
    for host in set(HOSTS) - set(expected):
        assert found.get(host, set()) <= SIDE_EFFECTS, (host, audit.report["findings"])

    enforce = converge.run(enforce=True)
    assert enforce.rc == 0, enforce
    assert enforce.report["ok"] is True and enforce.report["findings"] == [], enforce.report["findings"]
    before = codes_by_host(enforce.report, "before")
    for host, code in expected.items():
        assert code in before.get(host, set())

    again = converge.run()
    assert again.rc == 0 and again.report["findings"] == [], again


def test_clock_drift_is_stepped_and_a_stray_token_needs_a_human(converge):
    """Enforce steps a drifted clock (sntp -sS); a stray token is reported (error) and stays one."""
    lab = converge.lab
    lab.sh("kr-mini-01", "echo 120.5 > /var/db/macemu/sntp_offset")
    token = "ghp_" + "A1b2C3d4E5" * 4
    lab.sh("us-mini-01", "mkdir -p /Users/ci-build/.config/gh && printf 'github.com:\\n  oauth_token: %s\\n' > %s"
           % (token, GH_TOKEN_FILE))
    try:
        audit = converge.run()
        assert audit.rc != 0, audit
        assert codes_by_host(audit.report) == {"kr-mini-01": {"CLOCK_OFFSET"}, "us-mini-01": {"SECRET_FOUND"}}, \
            audit.report["findings"]
        enforce = converge.run(enforce=True)
        assert enforce.rc != 0, enforce
        assert codes_by_host(enforce.report) == {"us-mini-01": {"SECRET_FOUND"}}, enforce.report["findings"]
        assert {(f["host"], f["code"]) for f in enforce.report["before"]["findings"]} >= {("kr-mini-01", "CLOCK_OFFSET")}
        assert token not in enforce.out and token not in json.dumps(enforce.report)
        assert GH_TOKEN_FILE in json.dumps(enforce.report)
    finally:
        lab.sh("kr-mini-01", "rm -f /var/db/macemu/sntp_offset")
        lab.sh("us-mini-01", "rm -rf /Users/ci-build/.config")
    assert converge.run().rc == 0


def test_unreachable_node_is_a_finding_and_the_others_are_evaluated(converge):
    lab = converge.lab
    lab.sh("kr-mini-01", "echo '# edited' >> %s" % WRAPPER)
    lab.meshlab("stop", "jp-mini-01")
    try:
        audit = converge.run()
    finally:
        lab.meshlab("start", "jp-mini-01")
    assert audit.rc != 0, audit
    found = codes_by_host(audit.report)
    assert found == {"jp-mini-01": {"UNREACHABLE"}, "kr-mini-01": {"WRAPPER_MISMATCH"}}, audit.report["findings"]
    assert audit.report["hosts"]["jp-mini-01"]["reachable"] is False
    # The UNREACHABLE finding fails the reachability check; the checks it prevented are "unreachable".
    assert audit.report["regions"]["jp"]["checks"]["reachability"] == "error"
    assert audit.report["regions"]["jp"]["checks"]["manifest"] == "unreachable"
    assert sorted(h for h, e in audit.report["hosts"].items() if e["reachable"]) == sorted(set(HOSTS) - {"jp-mini-01"})
    assert converge.run(enforce=True).rc == 0


def test_no_secret_in_verbose_output(converge):
    run = converge.run("-vvv")
    assert run.rc == 0, run
    assert converge.password() not in run.out
    for path in ("compliance.json", "compliance.jsonl", "compliance.html", "compliance.junit.xml"):
        with open(os.path.join(converge.reports, path)) as handle:
            assert converge.password() not in handle.read()
