"""The emulated launchctl, hdiutil, diskutil and mount on a running lab node (MACEMU_LAB_DIR = the
MESHLAB_DIR of `lab/meshlab up`; MESHLAB_SUBNET as for that lab). Texts as in lab/emulator/README.md,
"launchd, RAM disks, mount". Skipped without a lab."""

import os
import subprocess
import time

import pytest

LAB_DIR = os.environ.get("MACEMU_LAB_DIR")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE = os.environ.get("MACEMU_LAB_NODE", "us")
PLIST = "/Library/LaunchDaemons/test.macemu.job.plist"
PROBE = ("id -un; ps -o sid= -p $$; echo pid=$$; pwd; echo FOO=$FOO; "
         "python3 -c 'import sys; sys.path.insert(0, \"/usr/lib/macemu\"); import launchd; "
         "print(\"system_session=%s\" % launchd.in_system_session())'; sleep 1")

pytestmark = pytest.mark.skipif(not LAB_DIR, reason="needs a running lab: set MACEMU_LAB_DIR")


def sh(script, check=True):
    proc = subprocess.run([os.path.join(REPO, "lab", "meshlab"), "exec", NODE, "--", "/bin/sh", "-c", script],
                          capture_output=True, text=True, env=dict(os.environ, MESHLAB_DIR=LAB_DIR), timeout=120)
    if check:
        assert proc.returncode == 0, proc
    return proc


def plist(session_create=True, user="macemu-job"):
    keys = "<key>UserName</key><string>%s</string>" % user if user else ""
    if session_create:
        keys += "<key>SessionCreate</key><true/>"
    return ('<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>'
            "<key>Label</key><string>test.macemu.job</string>"
            "<key>ProgramArguments</key><array><string>/bin/sh</string><string>-c</string><string>%s</string></array>"
            "%s<key>WorkingDirectory</key><string>/tmp</string>"
            "<key>EnvironmentVariables</key><dict><key>FOO</key><string>bar</string></dict>"
            "<key>StandardOutPath</key><string>/tmp/job.out</string><key>StandardErrorPath</key><string>/tmp/job.err</string>"
            "<key>RunAtLoad</key><true/></dict></plist>") % (PROBE.replace("&", "&amp;").replace("<", "&lt;"), keys)


@pytest.fixture
def job():
    sh("id macemu-job >/dev/null 2>&1 || useradd -m macemu-job; rm -f /tmp/job.out")
    yield
    sh("launchctl bootout system/test.macemu.job; rm -f %s" % PLIST, check=False)


def install(text):
    sh("cat > %s <<'EOF'\n%s\nEOF" % (PLIST, text))


def wait_output(lines=6):
    for _ in range(100):
        out = sh("cat /tmp/job.out 2>/dev/null || true").stdout.split()
        if len(out) >= lines:
            return out
        time.sleep(0.1)
    raise AssertionError("the job wrote nothing")


def test_a_job_runs_as_its_user_in_its_own_session(job):
    install(plist())
    assert sh("launchctl bootstrap system %s" % PLIST).returncode == 0
    out = wait_output()
    assert out[0] == "macemu-job" and "pid=" + out[1] == out[2]  # session leader: sid == pid
    assert out[3:6] == ["/tmp", "FOO=bar", "system_session=False"]
    printed = sh("launchctl print system/test.macemu.job").stdout
    assert printed.startswith("system/test.macemu.job = {\n") and "\tusername = macemu-job\n" in printed
    assert "\tsession create = 1\n" in printed and "\ttype = LaunchDaemon\n" in printed


def test_without_session_create_the_job_is_in_the_system_session(job):
    install(plist(session_create=False, user=None))
    sh("launchctl bootstrap system %s" % PLIST)
    out = wait_output()
    assert out[0] == "root" and out[-1] == "system_session=True"
    assert "\tsession create = 0\n" in sh("launchctl print system/test.macemu.job").stdout


def test_errors_and_exit_codes(job):
    install(plist())
    sh("launchctl bootstrap system %s" % PLIST)
    again = sh("launchctl bootstrap system %s" % PLIST, check=False)
    assert (again.returncode, again.stderr) == (5, "Bootstrap failed: 5: Input/output error\n")
    missing = sh("launchctl print system/no.such.job", check=False)
    assert (missing.returncode, missing.stderr) == (113, 'Could not find service "no.such.job" in domain for system\n')
    assert sh("launchctl kickstart -k system/test.macemu.job").returncode == 0
    assert "\truns = 2\n" in sh("launchctl print system/test.macemu.job").stdout
    assert sh("launchctl bootout system/test.macemu.job").returncode == 0
    gone = sh("launchctl bootout system/test.macemu.job", check=False)
    assert (gone.returncode, gone.stderr) == (3, "Boot-out failed: 3: No such process\n")
    sh("launchctl disable system/test.macemu.job")
    disabled = sh("launchctl bootstrap system %s" % PLIST, check=False)
    assert (disabled.returncode, disabled.stderr) == (119, "Bootstrap failed: 119: Service is disabled\n")
    sh("launchctl enable system/test.macemu.job")
    user = subprocess.run([os.path.join(REPO, "lab", "meshlab"), "exec", NODE, "-u", "admin", "--", "launchctl",
                           "bootstrap", "system", PLIST], capture_output=True, text=True,
                          env=dict(os.environ, MESHLAB_DIR=LAB_DIR))
    assert (user.returncode, user.stderr) == (1, "Bootstrap failed: 1: Operation not permitted\n")


def test_ram_disk_then_reboot_empties_it_and_reruns_run_at_load(job):
    out = sh("DEV=$(hdiutil attach -nomount ram://2048); diskutil erasevolume APFS MacemuTest $DEV >/dev/null; "
             "mount; diskutil enableOwnership /Volumes/MacemuTest; mount | grep MacemuTest; "
             "echo data > /Volumes/MacemuTest/file").stdout.splitlines()
    assert out[0] == "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)"
    assert out[1].endswith(" on /Volumes/MacemuTest (apfs, local, nodev, nosuid, journaled, noowners, mounted by root)")
    assert out[2] == "File system user/group ownership enabled"
    assert "noowners" not in out[3]
    install(plist())
    sh("launchctl bootstrap system %s" % PLIST)
    wait_output()
    sh("rm -f /tmp/job.out; : > /tmp/keep-marker")
    subprocess.run([os.path.join(REPO, "lab", "meshlab"), "reboot", NODE], check=True, capture_output=True,
                   env=dict(os.environ, MESHLAB_DIR=LAB_DIR))
    assert "MacemuTest" not in sh("mount; ls /Volumes").stdout
    assert wait_output()[0] == "macemu-job"  # RunAtLoad ran again at boot (/tmp is new, the job wrote it)
