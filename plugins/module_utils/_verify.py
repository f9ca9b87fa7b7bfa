# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The verify as the CI user (role verify, module signing_verify): every step in one process.

* signers: sign a scratch file through the one-process signing entry point (``macmesh-sign``:
  unlock, sign, lock; the password on file descriptor 3), read the signature back (Authority and
  TeamIdentifier), refuse every revoked identity with the keychain unlocked, then prove that a
  locked keychain does not sign (a bounded probe, no unlock). After a failure the keychain is locked.
* builders: the CI user sees no signing identity, and signing with the distribution identity fails.

``run(argv, data=None, bound=None) -> (rc, out, err)`` runs one command; ``run_bounded`` is the one the
module passes (standard library only, Python 3.9: it runs on macOS's /usr/bin/python3). The password
reaches ``macmesh-sign`` on its standard input, which a shell moves to file descriptor 3: never argv,
never the environment, never a message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess

from ansible_collections.macmesh.signing.plugins.module_utils._identity import normalise_sha1
from ansible_collections.macmesh.signing.plugins.module_utils._files import atomic_write
from ansible_collections.macmesh.signing.plugins.module_utils._security import ParseError, parse_find_identity

CODESIGN = "/usr/bin/codesign"
SECURITY = "/usr/bin/security"
SHELL = "/bin/sh"
SCRATCH_TEXT = b"macmesh.signing verify: signed by the bootstrap playbook, safe to delete\n"
# "$0" is macmesh-sign; the shell gives it standard input (the password) as file descriptor 3.
_SIGN = 'exec "$0" --keychain "$1" --timeout "$2" -- codesign -s "$3" --keychain "$1" -f "$4" 3<&0 </dev/null'
_PROBE = 'exec "$0" --no-unlock --keychain "$1" --timeout "$2" -- codesign -s "$3" --keychain "$1" -f "$4" </dev/null'
_LOCK = 'exec "$0" lock </dev/null'
# Seconds a command may run past its own bound (macmesh-sign's --timeout) before it is killed here.
GRACE = 30


class VerifyFailed(Exception):
    """The node did not verify; the message names the step and what it printed (never a secret)."""


def sign_argv(sign, keychain, timeout, sha1, path, unlock=True):
    """The shell line that runs ``macmesh-sign`` (password on FD 3 when ``unlock``); no secret in it."""
    return [SHELL, "-c", _SIGN if unlock else _PROBE, sign, keychain, str(int(timeout)), sha1, path]


def lock_argv(wrapper):
    return [SHELL, "-c", _LOCK, wrapper]


def run_bounded(argv, data=None, bound=None):
    """Run ``argv`` in its own process group with ``data`` (bytes) on standard input; kill the group after
    ``bound`` seconds (rc 124, as timeout(1)). A missing program is rc 127."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, LC_ALL="C"), start_new_session=True)
    except OSError as exc:
        return 127, "", "%s: %s" % (argv[0], exc.strerror or exc)
    try:
        out, err = proc.communicate(data, timeout=bound)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return 124, "", "did not finish within %d s and was stopped" % bound
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def write_scratch(path):
    """The file the verify signs: its directory 0700, the file 0600, written only when it differs (_files.atomic_write)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    os.chmod(directory, 0o700)
    try:
        with open(path, "rb") as handle:
            if handle.read() == SCRATCH_TEXT:
                os.chmod(path, 0o600)
                return
    except (IOError, OSError):
        pass
    atomic_write(path, SCRATCH_TEXT.decode("utf-8"), mode=0o600)


def manifest_problem(active, expected, profile_root):
    """None when the CI user reads the ``expected`` profile version as current (or nothing is expected)."""
    if not expected:
        return None
    got = (active or {}).get("sha256") if isinstance(active, dict) else None
    if got == expected:
        return None
    return "%s/current: the CI user reads %s, expected %s." % (profile_root, got or "nothing", expected)


def identity_name(identities, sha1):
    for identity in identities or []:
        if isinstance(identity, dict) and str(identity.get("sha1", "")).upper() == sha1:
            return identity.get("name")
    return None


def signature_problem(display, name, team_id, path):
    """None when ``codesign -dvvv`` (its standard error) names the identity and the team."""
    lines = display.splitlines()
    if name is not None and ("Authority=%s" % name) in lines and ("TeamIdentifier=%s" % team_id) in lines:
        return None
    got = [line for line in lines if line.startswith(("Authority=", "TeamIdentifier="))]
    return 'codesign -dvvv %s: Authority/TeamIdentifier: expected "%s" and %s, got %s' % (
        path, name if name is not None else "?", team_id, ", ".join(got) or "nothing")


def _tail(err, out=""):
    text = (err or out or "").strip()
    return text[-2000:] if text else "no output"


class Verifier(object):
    """One node's verify. ``options``: sign, wrapper, keychain, file, sha1, team_id, password (str),
    revoked_sha1s, timeout, probe_timeout."""

    def __init__(self, run, options):
        self.run = run
        self.options = options

    def _sign(self, sha1, unlock=True, timeout=None):
        opts = self.options
        timeout = opts["timeout"] if timeout is None else timeout
        data = (opts["password"] + "\n").encode("utf-8") if unlock else None
        return self.run(sign_argv(opts["sign"], opts["keychain"], timeout, sha1, opts["file"], unlock=unlock),
                        data=data, bound=timeout + GRACE)

    def signer(self, identities):
        """Sign, check the signature, refuse the revoked identities, prove a locked keychain never signs."""
        opts = self.options
        try:
            self._signer(identities)
        except VerifyFailed:
            # Leave the keychain locked whatever step failed (a failed lock is not the news here).
            self.run(lock_argv(opts["wrapper"]), bound=GRACE)
            raise

    def _signer(self, identities):
        opts = self.options
        sha1 = opts["sha1"]
        rc, out, err = self._sign(sha1)
        if rc != 0:
            raise VerifyFailed("%s -- codesign -s %s failed (exit %d): %s" % (opts["sign"], sha1, rc, _tail(err, out)))
        rc, out, err = self.run([CODESIGN, "-dvvv", opts["file"]], bound=opts["timeout"])
        if rc != 0:
            raise VerifyFailed("codesign -dvvv %s failed (exit %d): %s" % (opts["file"], rc, _tail(err, out)))
        problem = signature_problem(err, identity_name(identities, sha1), opts["team_id"], opts["file"])
        if problem:
            raise VerifyFailed(problem)
        for revoked in opts["revoked_sha1s"]:
            rc, out, err = self._sign(revoked)
            if rc == 0:
                raise VerifyFailed("%s -- codesign -s %s signed: the revoked identity is still usable." % (
                    opts["sign"], revoked))
            if "errSecInternalComponent" in err:
                raise VerifyFailed("%s -- codesign -s %s was refused because the keychain was locked "
                                   "(errSecInternalComponent), not because the identity is gone." % (opts["sign"], revoked))
        rc, out, err = self._sign(sha1, unlock=False, timeout=opts["probe_timeout"])
        if rc == 0:
            raise VerifyFailed("codesign with %s locked signed (exit 0): the keychain was left unlocked, or is "
                               "unlocked for every session." % opts["keychain"])

    def builder(self):
        """The CI user of a builder sees no valid signing identity and cannot sign."""
        opts = self.options
        rc, out, err = self.run([SECURITY, "find-identity", "-v", "-p", "codesigning"], bound=60)
        if rc != 0:
            raise VerifyFailed("security find-identity -v -p codesigning failed (exit %d): %s" % (rc, _tail(err, out)))
        try:
            visible = [item for item in parse_find_identity(out) if item["valid"]]
        except ParseError as exc:
            raise VerifyFailed("security find-identity -v -p codesigning: %s" % exc)
        if visible:
            raise VerifyFailed("a builder, but its CI user can see signing identities: %s" % ", ".join(
                sorted(item["name"] for item in visible)))
        if opts["sha1"]:
            rc, out, err = self.run([CODESIGN, "-s", opts["sha1"], "--keychain", opts["keychain"], "-f", opts["file"]],
                                    bound=opts["timeout"])
            if rc == 0:
                raise VerifyFailed("a builder, but codesign -s %s succeeded" % opts["sha1"])


def check_options(params):
    """The module's inputs, normalised; raises ValueError naming the field (one message per bad input)."""
    options = dict(params)
    if options.get("sha1"):
        options["sha1"] = normalise_sha1(options["sha1"], "sha1")
    elif options.get("signer"):
        raise ValueError("sha1: a signer needs the SHA-1 of the identity to sign with (keychain_identities declares none).")
    revoked = []
    for index, value in enumerate(options.get("revoked_sha1s") or []):
        revoked.append(normalise_sha1(value, "revoked_sha1s[%d]" % index))
    options["revoked_sha1s"] = revoked
    for field in ("sign", "wrapper", "keychain", "file", "profile_root"):
        if not os.path.isabs(options.get(field) or ""):
            raise ValueError("%s: %r is not an absolute path." % (field, options.get(field)))
    for field in ("timeout", "probe_timeout"):
        if not isinstance(options.get(field), int) or options[field] < 1:
            raise ValueError("%s: %r is not a number of seconds (1 or more)." % (field, options.get(field)))
    if options.get("signer") and not options.get("password"):
        raise ValueError("keychain_password: a signer's verify needs the keychain password.")
    return options
