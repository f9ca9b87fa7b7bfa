"""chflags: the system append-only flag (sappnd) as the kernel enforces it, refusals as on macOS.

Needs root and a file system with Linux's append-only inode flag (the nodes' tmpfs and overlay have it);
elsewhere the tests are skipped, and the lab's own `make lab-test` run says so.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

from _sysemu import Env


def _append_only(path):
    try:
        os.close(os.open(str(path), os.O_WRONLY))
    except PermissionError:
        return True
    return False


@pytest.fixture
def env(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("")
    if os.geteuid() != 0 or subprocess.run(["chattr", "+a", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("needs root and the append-only inode flag")
    subprocess.run(["chattr", "-a", str(probe)], check=True)
    made = Env(tmp_path)
    made.log = tmp_path / "unlock.log"
    made.log.write_text('{"n": 1}\n')
    yield made
    subprocess.run(["chattr", "-a", str(made.log)], capture_output=True)


def test_sappnd_makes_the_file_append_only_for_everyone(env):
    proc = env.run("chflags", "sappnd", str(env.log))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert _append_only(env.log)
    with open(str(env.log), "a") as handle:
        handle.write('{"n": 2}\n')
    for attempt in (lambda: open(str(env.log), "w"), lambda: os.truncate(str(env.log), 0),
                    lambda: os.unlink(str(env.log)), lambda: os.rename(str(env.log), str(env.log) + ".x"),
                    lambda: os.chmod(str(env.log), 0o666)):
        with pytest.raises(PermissionError):
            attempt()
    assert env.log.read_text() == '{"n": 1}\n{"n": 2}\n'
    # Setting it again is a no-op; the alias is accepted.
    assert env.run("chflags", "sappend", str(env.log)).returncode == 0
    assert env.audit_lines()[0]["argv"][1:] == ["sappnd", str(env.log)]


def test_nosappnd_is_refused_even_to_root(env):
    """securelevel > 0 (assumed, the stricter source): only single-user mode clears a system flag."""
    proc = env.run("chflags", "-v", "sappnd", str(env.log))
    assert proc.returncode == 0 and proc.stdout == str(env.log) + "\n"
    cleared = env.run("chflags", "nosappnd", str(env.log))
    assert (cleared.returncode, cleared.stdout, cleared.stderr) == (
        1, "", "chflags: %s: Operation not permitted\n" % env.log)
    assert _append_only(env.log)


def test_only_root_sets_or_clears_it(env):
    # nobody must read node.json and append to the audit log: a world-readable copy of the fake node.
    public = tempfile.mkdtemp(prefix="macemu-chflags-")
    os.chmod(public, 0o755)
    shutil.copy(str(env.config), os.path.join(public, "node.json"))
    os.chmod(os.path.join(public, "node.json"), 0o644)
    env.config = type(env.config)(os.path.join(public, "node.json"))
    env.audit = type(env.audit)(os.path.join(public, "audit.log"))
    env.audit.write_text("")
    os.chmod(str(env.audit), 0o666)
    env.log = type(env.log)(os.path.join(public, "unlock.log"))
    env.log.write_text("")
    os.chown(str(env.log), 65534, 65534)
    as_nobody = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "seed", "usr", "bin",
                                                                  "chflags"), "sappnd", str(env.log)],
                               capture_output=True, text=True, env=env.environ(), preexec_fn=lambda: os.setuid(65534),
                               timeout=60)
    assert as_nobody.returncode == 1
    assert as_nobody.stderr == "chflags: %s: Operation not permitted\n" % env.log
    assert not _append_only(env.log)
    shutil.rmtree(public)


def test_refusals(env):
    missing = env.run("chflags", "sappnd", str(env.log) + ".none")
    assert (missing.returncode, missing.stderr) == (1, "chflags: %s.none: No such file or directory\n" % env.log)
    assert env.run("chflags", "-f", "sappnd", str(env.log) + ".none").returncode == 0
    bad = env.run("chflags", "sappnd,bogus", str(env.log))
    assert (bad.returncode, bad.stderr) == (1, "chflags: invalid flag: sappnd,bogus\n")
    not_kept = env.run("chflags", "uchg", str(env.log))
    assert not_kept.returncode == 1 and "not emulated" in not_kept.stderr
    usage = env.run("chflags", "sappnd")
    assert usage.returncode == 1 and usage.stderr.startswith("usage: chflags ")
    assert not _append_only(env.log)
