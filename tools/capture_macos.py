"""Record what the `security` / `codesign` calls of macmesh.signing print on a real Mac.

Run on macOS (a GitHub-hosted runner does, see .github/workflows/macos.yml) as an ordinary user:

    tools/capture_macos.py --p12 identity.p12 --p12-passphrase-file pass.txt --out capture.jsonl

It works only on a scratch keychain it creates in a temporary directory (never the login keychain, never
the search list of the calling user beyond the run: the list is restored at the end). Each command is
bounded (a locked keychain makes codesign wait for a prompt, reference §4.2), and one JSON line is written
per call: {"case", "argv", "stdin" (secrets replaced by ********), "rc", "stdout", "stderr", "timed_out",
"macos"}. Compare the output with lab/emulator/README.md: every row marked "assumed" there has a case
here. Nothing secret is written: the scratch keychain password is random and the p12 passphrase is masked.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import string
import subprocess
import sys
import tempfile

SECURITY = "/usr/bin/security"
CODESIGN = "/usr/bin/codesign"


class Capture(object):
    def __init__(self, out, secrets_to_mask):
        self.out = out
        self.masks = [s for s in secrets_to_mask if s]

    def mask(self, text):
        for value in self.masks:
            text = text.replace(value, "********")
        return text

    def run(self, case, argv, stdin="", timeout=20):
        try:
            proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                                  universal_newlines=True, timeout=timeout, env=dict(os.environ, LC_ALL="C"))
            rc, out, err, timed_out = proc.returncode, proc.stdout, proc.stderr, False
        except subprocess.TimeoutExpired as exc:
            rc, out, err, timed_out = None, exc.stdout or "", exc.stderr or "", True
            out = out.decode() if isinstance(out, bytes) else out
            err = err.decode() if isinstance(err, bytes) else err
        record = {"case": case, "argv": [self.mask(a) for a in argv], "stdin": self.mask(stdin), "rc": rc,
                  "stdout": self.mask(out), "stderr": self.mask(err), "timed_out": timed_out,
                  "macos": platform.mac_ver()[0]}
        self.out.write(json.dumps(record, sort_keys=True) + "\n")
        self.out.flush()
        return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--p12", help="a throw-away signing identity (PKCS#12) to import")
    parser.add_argument("--p12-passphrase-file")
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    if platform.system() != "Darwin":
        sys.exit("capture_macos.py records real macOS output: run it on a Mac")
    work = tempfile.mkdtemp(prefix="macmesh-capture-")
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _index in range(24))
    passphrase = open(args.p12_passphrase_file).read().strip() if args.p12_passphrase_file else ""
    out = sys.stdout if args.out == "-" else open(args.out, "w")
    cap = Capture(out, [password, passphrase])
    kc = os.path.join(work, "capture.keychain")
    db = kc + "-db"
    target = os.path.join(work, "file.txt")
    with open(target, "w") as handle:
        handle.write("macmesh capture\n")
    before = cap.run("list-keychains -d user (before)", [SECURITY, "list-keychains", "-d", "user"])
    try:
        cap.run("create-keychain", [SECURITY, "-i"], 'create-keychain -p "%s" "%s"\n' % (password, kc))
        cap.run("create-keychain exists", [SECURITY, "create-keychain", "-p", "x", kc])
        cap.run("show-keychain-info new", [SECURITY, "show-keychain-info", db])
        cap.run("show-keychain-info missing", [SECURITY, "show-keychain-info", os.path.join(work, "none.keychain-db")])
        cap.run("list-keychains", [SECURITY, "list-keychains"])
        cap.run("default-keychain", [SECURITY, "default-keychain"])
        cap.run("default-keychain HOME elsewhere", ["/usr/bin/env", "HOME=" + work, SECURITY, "default-keychain"])
        cap.run("set-keychain-settings", [SECURITY, "set-keychain-settings", "-t", "3600", "-l", db])
        cap.run("show-keychain-info after settings", [SECURITY, "show-keychain-info", db])
        lines = [line.strip().strip('"') for line in before["stdout"].splitlines() if line.strip()]
        cap.run("list-keychains -s", [SECURITY, "list-keychains", "-d", "user", "-s", db] + lines)
        if args.p12:
            cap.run("import p12", [SECURITY, "-i"], 'import "%s" -k "%s" -f pkcs12 -P "%s" -T /usr/bin/codesign '
                    '-T /usr/bin/productsign\n' % (args.p12, db, passphrase))
            cap.run("import p12 duplicate", [SECURITY, "-i"], 'import "%s" -k "%s" -f pkcs12 -P "%s"\n' % (args.p12, db, passphrase))
            cap.run("import wrong passphrase", [SECURITY, "import", args.p12, "-k", db, "-f", "pkcs12", "-P", "wrong"])
            cap.run("set-key-partition-list wrong -k", [SECURITY, "-i"],
                    'set-key-partition-list -S "apple-tool:,apple:" -s -k "wrong" "%s"\n' % db)
            cap.run("set-key-partition-list apple-tool: only", [SECURITY, "-i"],
                    'set-key-partition-list -S "apple-tool:" -s -k "%s" "%s"\n' % (password, db))
            cap.run("codesign with apple-tool: only", [CODESIGN, "-s", "-", "--keychain", db, "-f", target])
            cap.run("set-key-partition-list", [SECURITY, "-i"],
                    'set-key-partition-list -S "apple-tool:,apple:" -s -k "%s" "%s"\n' % (password, db))
            cap.run("find-identity -v -p codesigning", [SECURITY, "find-identity", "-v", "-p", "codesigning", db])
            cap.run("find-identity -p codesigning", [SECURITY, "find-identity", "-p", "codesigning", db])
            found = cap.run("find-identity sha1", [SECURITY, "find-identity", "-v", "-p", "codesigning", db])
            sha1 = next((w for line in found["stdout"].splitlines() for w in line.split() if len(w) == 40), None)
            if sha1:
                cap.run("codesign", [CODESIGN, "-s", sha1, "--keychain", db, "-f", target])
                cap.run("codesign -dvvv", [CODESIGN, "-dvvv", target])
                cap.run("lock-keychain", [SECURITY, "lock-keychain", db])
                cap.run("show-keychain-info locked", [SECURITY, "show-keychain-info", db])
                cap.run("codesign locked (bounded: blocks?)", [CODESIGN, "-s", sha1, "--keychain", db, "-f", target], timeout=30)
                cap.run("codesign locked, new session",
                        ["/usr/bin/ssh", "-o", "BatchMode=yes", "localhost", CODESIGN, "-s", sha1, "--keychain", db, "-f",
                         target], timeout=30)
                two_sessions = ("ssh -o BatchMode=yes localhost %s -i < /dev/stdin; "
                                "ssh -o BatchMode=yes localhost %s show-keychain-info %s" % (SECURITY, SECURITY, db))
                cap.run("unlock in one ssh session, status in another", ["/bin/sh", "-c", two_sessions],
                        'unlock-keychain -p "%s" "%s"\n' % (password, db), timeout=30)
                cap.run("delete-identity", [SECURITY, "delete-identity", "-Z", sha1, db])
                cap.run("delete-identity again (not found)", [SECURITY, "delete-identity", "-Z", sha1, db])
        cap.run("security -i failing line then empty line", [SECURITY, "-i"],
                'unlock-keychain -p "x" "%s"\n\n' % os.path.join(work, "none.keychain-db"))
        cap.run("security -i failing last line", [SECURITY, "-i"],
                'unlock-keychain -p "x" "%s"\n' % os.path.join(work, "none.keychain-db"))
        cap.run("add-certificates duplicate (login keychain is not touched: scratch)",
                [SECURITY, "add-certificates", "-k", db, "/dev/null"])
        cap.run("find-certificate none", [SECURITY, "find-certificate", "-a", "-c", "no such name", db])
        cap.run("cms -D missing", [SECURITY, "cms", "-D", "-i", os.path.join(work, "none.mobileprovision")])
    finally:
        lines = [line.strip().strip('"') for line in before["stdout"].splitlines() if line.strip()]
        cap.run("list-keychains -s (restore)", [SECURITY, "list-keychains", "-d", "user", "-s"] + lines)
        cap.run("delete-keychain", [SECURITY, "delete-keychain", db])
        shutil.rmtree(work, ignore_errors=True)
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
