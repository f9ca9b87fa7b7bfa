# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Run /usr/bin/security, parse what it prints and classify what goes wrong.

Everything that talks to ``security`` goes through :class:`SecurityRunner`:

* ``run(*args)`` runs one command as an argv list (never a shell string);
* ``batch(lines)`` feeds ``security -i`` on stdin, the only way a secret reaches ``security``
  (argv is visible to every user through ``ps``).

The interactive line reader of ``security`` (Apple's SecurityTool/security.c, ``split_line``)
splits on white space, honours double or single quotes and treats a backslash as an escape,
reads at most 4096 bytes per line and keeps at most 32 arguments. ``batch`` therefore
double-quotes every token, refuses the characters that could change how a line is split, and
refuses lines the reader would truncate. Secrets are held to a stricter alphabet still, because
Apple documents none of this and public scripts disagree on the details.

In interactive mode ``security`` does not return one exit code per command: it prints
``<command>: returned <n>`` on stderr and exits with the code of the last command. Errors are
therefore classified from the text of both streams (:func:`classify_error`), not from the
exit code alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import threading
import time

SECURITY = "/usr/bin/security"

SAFE_SECRET_ALPHABET = "A-Za-z0-9_.,:+=@%/-"
_SAFE_SECRET_RE = re.compile(r"\A[A-Za-z0-9_.,:+=@%/-]+\Z")

# Limits of security's interactive reader (SecurityTool/security.c: MAX_LINE_LEN, MAX_ARGS).
# Longer lines or more arguments are cut silently, so refuse them instead.
MAX_BATCH_LINE_BYTES = 4095
MAX_BATCH_TOKENS = 32

# A double quote would end the quoted token, a backslash escapes the next character, and a line
# break or other control character would end or corrupt the line.
_UNSAFE_TOKEN_RE = re.compile(r'["\\\x00-\x1f\x7f]')


class Secret(object):
    """A batch token that must never be shown: its value only goes into ``security -i`` stdin."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "Secret(********)"

    __str__ = __repr__


class UnsafeTokenError(ValueError):
    """A batch token that the interactive reader of ``security`` would not pass through intact."""


class UnsafeSecretError(UnsafeTokenError):
    """A secret outside the safe alphabet. The message never contains the secret."""


class ParseError(ValueError):
    """Output of ``security`` that does not have the expected shape."""


def decode_utf8(data, what):
    """``data`` (bytes) as text; ParseError naming ``what`` and the offset when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("%s is not UTF-8 text (byte 0x%02x at offset %d)" % (what, data[exc.start], exc.start))


def check_utf8(text, what):
    """ParseError when ``text`` holds undecodable bytes (Ansible keeps them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError("%s is not UTF-8 text (undecodable byte at offset %d)" % (what, exc.start))
    return text


def is_safe_secret(value):
    """True when ``value`` is a non-empty text made only of ``[A-Za-z0-9_.,:+=@%/-]``."""
    return isinstance(value, str) and bool(_SAFE_SECRET_RE.match(value))


def quote_token(token):
    """Return ``token`` double-quoted for one ``security -i`` line.

    Plain tokens (paths, names) may contain spaces but no double quote, backslash or control
    character. :class:`Secret` tokens must match the safe alphabet ``[A-Za-z0-9_.,:+=@%/-]+``.
    Raises :class:`UnsafeTokenError` / :class:`UnsafeSecretError`.
    """
    if isinstance(token, Secret):
        if not is_safe_secret(token.value):
            raise UnsafeSecretError(
                "a secret must be a non-empty text made only of [%s]; generate it from that alphabet"
                % SAFE_SECRET_ALPHABET
            )
        return '"%s"' % token.value
    if isinstance(token, bool) or not isinstance(token, (str, int)):
        raise UnsafeTokenError("a security token must be a text or an integer, not %s" % type(token).__name__)
    text = str(token)
    if _UNSAFE_TOKEN_RE.search(text):
        raise UnsafeTokenError(
            "%r contains a double quote, a backslash or a control character, "
            "which security -i would not read back intact" % text
        )
    return '"%s"' % text


def build_batch_script(lines):
    """Return the stdin text for ``security -i``: one command per line, every token quoted.

    ``lines`` is a list of token lists. Every line is checked before any text is returned, so
    an unsafe token anywhere means nothing runs.
    """
    rendered = []
    for tokens in lines:
        if not tokens:
            raise UnsafeTokenError("a security -i line needs at least a command name")
        if len(tokens) > MAX_BATCH_TOKENS:
            raise UnsafeTokenError(
                "security -i keeps at most %d arguments per line; %s has %d"
                % (MAX_BATCH_TOKENS, _command_name(tokens), len(tokens))
            )
        line = " ".join(quote_token(token) for token in tokens)
        if len(line.encode("utf-8")) + 1 > MAX_BATCH_LINE_BYTES:
            raise UnsafeTokenError(
                "security -i reads at most %d bytes per line; the %s line is longer"
                % (MAX_BATCH_LINE_BYTES, _command_name(tokens))
            )
        rendered.append(line)
    return "".join(line + "\n" for line in rendered)


def _command_name(tokens):
    first = tokens[0]
    return "<secret>" if isinstance(first, Secret) else str(first)


class SecurityRunner(object):
    """Run ``/usr/bin/security`` through ``run_command(argv, data=None) -> (rc, out, err)``.

    The caller's ``run_command`` must set ``LC_ALL=C`` (see :func:`module_runner`), because the
    error classification reads English messages.
    """

    def __init__(self, run_command):
        self._run_command = run_command

    def run(self, *args):
        """Run one non-secret command: ``security <args...>``. Returns ``(rc, out, err)``."""
        for arg in args:
            if isinstance(arg, Secret):
                raise UnsafeSecretError("secrets only go through SecurityRunner.batch, never argv")
        return self._run_command([SECURITY] + [str(arg) for arg in args])

    def batch(self, lines):
        """Feed ``lines`` (lists of tokens, :class:`Secret` for secrets) to ``security -i``.

        Returns ``(rc, out, err)`` of the whole batch; pass it to :func:`classify_error`.
        Raises :class:`UnsafeTokenError` before anything runs when a token cannot be sent.
        """
        script = build_batch_script(lines)
        return self._run_command([SECURITY, "-i"], data=script)


# Every security/codesign call is bounded (reference §4.2: a locked keychain or a key without a
# partition list makes securityd wait for a prompt nobody can answer, until the job's own timeout).
DEFAULT_TIMEOUT = 60

TIMEOUT_CAUSES = (
    "the keychain is locked (relocked by its timeout or lock-on-sleep, or unlocked in another login "
    "session) and securityd is waiting for a password prompt; the key's partition list lacks "
    "'apple:' (set-key-partition-list -S apple-tool:,apple:), so a prompt asks for access; or a "
    "dialog is waiting on the Mac's screen. Unlock and sign in one process (macmesh-sign)."
)


def module_runner(module, timeout=DEFAULT_TIMEOUT):
    """A :class:`SecurityRunner` that runs through ``AnsibleModule.run_command`` with ``LC_ALL=C``,
    killing the command after ``timeout`` seconds (:class:`SecurityTimeoutError`)."""

    def run_command(argv, data=None):
        state = {}

        def watch(proc):
            # run_command hands over the Popen before it waits: a timer kills it at the bound.
            def expire():
                state["expired"] = True
                try:
                    proc.kill()
                except OSError:
                    pass

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            state["timer"] = timer
            timer.start()

        kwargs = dict(data=data, environ_update={"LC_ALL": "C"}, binary_data=False, check_rc=False)
        if timeout:
            kwargs["before_communicate_callback"] = watch
        # With binary_data=False run_command appends a newline to stdin; to security -i that is
        # one more empty line, which it skips.
        rc, out, err = module.run_command(argv, **kwargs)
        if state.get("timer") is not None:
            state["timer"].cancel()
        if state.get("expired"):
            raise SecurityTimeoutError(argv, timeout)
        return rc, out, err

    return SecurityRunner(run_command)


# --- one writer at a time for the search list and the default keychain --------------------------

LOCK_NAME = ".macmesh-keychain-lists.lock"
LOCK_TIMEOUT = 30


def lists_lock_path(home=None):
    """The per-user lock file every search-list / default-keychain writer of the collection takes
    (modules, the unlock wrapper, macmesh-sign): ~/Library/Preferences/.macmesh-keychain-lists.lock."""
    home = home or os.path.expanduser("~")
    return os.path.join(home, "Library", "Preferences", LOCK_NAME)


class LockTimeoutError(Exception):
    pass


@contextlib.contextmanager
def lists_lock(path=None, timeout=LOCK_TIMEOUT):
    """Hold an exclusive flock on the user's lock file for a read-modify-write of
    ``list-keychains -s`` / ``default-keychain -s`` (fastlane#15512: parallel jobs of one user
    race on it and lose entries). Raises :class:`LockTimeoutError` after ``timeout`` seconds."""
    path = path or lists_lock_path()
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        "another job of this user has held %s for more than %d s (a hung "
                        "search-list write?)" % (path, timeout))
                time.sleep(0.05)
        yield path
    finally:
        os.close(fd)


# --- errors -------------------------------------------------------------------------------------


class SecurityError(Exception):
    """A failed ``security`` command. ``str()`` is the line ``security`` printed; ``hint`` says
    what the operator should do."""

    text = None
    hint = (
        "Run the same security command by hand as the same user (become_user) to see the full "
        "error; the output is classified with LC_ALL=C."
    )

    def __init__(self, message, rc=None, out="", err=""):
        super(SecurityError, self).__init__(message)
        self.message = message
        self.rc = rc
        self.out = out
        self.err = err

    def describe(self):
        """``message`` followed by ``hint``, for ``fail_json(msg=...)``."""
        return "%s Hint: %s" % (_sentence(self.message), self.hint)


class SecurityTimeoutError(SecurityError):
    """A security/codesign/productsign call that did not finish within its bound (it was killed)."""

    hint = "Likely causes: " + TIMEOUT_CAUSES

    def __init__(self, argv, timeout):
        words = [os.path.basename(str(argv[0]))] + [str(a) for a in argv[1:3]]
        super(SecurityTimeoutError, self).__init__(
            "`%s` did not finish within %d s and was stopped" % (" ".join(words), timeout), rc=None)
        self.timeout = timeout


class KeychainExistsError(SecurityError):
    text = "A keychain with the same name already exists."
    hint = (
        "A keychain file with that name is already there (create-keychain adds '-db' to the "
        "name). Manage the existing keychain, or remove it with state=absent before recreating it."
    )


class WrongPasswordError(SecurityError):
    text = "The user name or passphrase you entered is not correct."
    hint = (
        "The password does not open this keychain or PKCS#12 file. Check the vaulted password "
        "(set-key-partition-list -k takes the keychain's password, not the p12's). On macOS 15.1+ "
        "an empty-password p12 also fails this way: re-export it with a password. If the keychain "
        "password is lost, delete the keychain (state=absent) and recreate it."
    )


class InteractionNotAllowedError(SecurityError):
    text = "User interaction is not allowed."
    hint = (
        "The keychain is locked and security cannot prompt over SSH. Unlock it first "
        "(macmesh.signing.keychain with lock_state=unlocked, or the unlock wrapper) and check "
        "its timeout and lock-on-sleep settings."
    )


class UndecodableDataError(SecurityError):
    text = "Unable to decode the provided data."
    hint = (
        "macOS 15+ could not decode this PKCS#12 file. Re-export it with "
        "`openssl pkcs12 -export -legacy`, or import key and certificate with `-f openssl`."
    )


class MacVerificationError(SecurityError):
    text = "MAC verification failed during PKCS12 import (wrong password?)"
    hint = (
        "Either the p12 password is wrong or the file uses OpenSSL 3 defaults (PBES2/AES-256/"
        "SHA-256) that macOS cannot read: check the password, then re-export with "
        "`openssl pkcs12 -export -legacy` (3DES/SHA-1)."
    )


class DuplicateItemError(SecurityError):
    text = "The specified item already exists in the keychain."
    hint = (
        "The item is already in the keychain. Compare identities by SHA-1 "
        "(security find-identity) before importing instead of importing again."
    )


class KeychainNotFoundError(SecurityError):
    text = "The specified keychain could not be found."
    hint = (
        "No keychain at that path for this user. Check the path (create-keychain adds '-db') "
        "and that the task runs as the keychain's owner (become_user)."
    )


class NoDefaultKeychainError(SecurityError):
    text = "A default keychain could not be found."
    hint = (
        "The user has no default keychain in this environment, often because HOME points "
        "elsewhere (become without -H). Run as the user with its own HOME, or name the keychain "
        "path explicitly."
    )


class ItemNotFoundError(SecurityError):
    text = "The specified item could not be found in the keychain."
    hint = (
        "The item is not in any keychain that was searched. codesign --keychain only filters the "
        "user's search list: put the signing keychain on it with "
        "macmesh.signing.keychain_search_list, and check the identity is imported."
    )


_CLASSIFIED = (
    KeychainExistsError,
    WrongPasswordError,
    InteractionNotAllowedError,
    UndecodableDataError,
    MacVerificationError,
    DuplicateItemError,
    KeychainNotFoundError,
    NoDefaultKeychainError,
    ItemNotFoundError,
)

# Exit code of create-keychain when the file exists (checked by the JDK's jpackage signing tests).
KEYCHAIN_EXISTS_RC = 48

# What security -i prints on stderr after a command fails (SecurityTool/security.c, main()).
_RETURNED_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): returned (-?\d+)\s*\Z")


def classify_error(rc, out, err):
    """Return the :class:`SecurityError` that ``(rc, out, err)`` shows, or ``None`` on success.

    Known messages are looked for in stderr first, then stdout, line by line; the first known
    line decides the class. Without a known message, exit code 48 (or ``<cmd>: returned 48`` in
    a batch) is :class:`KeychainExistsError`, and any other non-zero exit code or
    ``<cmd>: returned <n>`` line is a plain :class:`SecurityError`.
    """
    lines = [line.strip() for line in (err or "").splitlines() + (out or "").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        for cls in _CLASSIFIED:
            if cls.text in line:
                return cls(line, rc=rc, out=out, err=err)

    returned = [_RETURNED_RE.match(line) for line in lines]
    returned = [match for match in returned if match]
    codes = [int(match.group(2)) for match in returned]
    if rc == KEYCHAIN_EXISTS_RC or KEYCHAIN_EXISTS_RC in codes:
        return KeychainExistsError(_first_error_line(lines, rc), rc=rc, out=out, err=err)
    if rc or returned:
        return SecurityError(_first_error_line(lines, rc), rc=rc, out=out, err=err)
    return None


def _first_error_line(lines, rc):
    for line in lines:
        if line.startswith("security: ") or line.startswith("error: "):
            return line
    for line in lines:
        if _RETURNED_RE.match(line):
            return line
    return lines[-1] if lines else "security exited with code %s" % rc


def _sentence(text):
    return text if text.endswith((".", "?", "!", ")")) else text + "."


# --- parsers ------------------------------------------------------------------------------------

_IDENTITY_RE = re.compile(r'^\s*\d+\)\s+(\S+)\s+"(.*)"(?:\s+\(([^()]*)\))?\s*\Z')
_ENTRY_START_RE = re.compile(r"^\s*\d+\)")
_FOUND_VALID_RE = re.compile(r"^\s*(\d+) valid identities found\s*\Z")
_FOUND_RE = re.compile(r"^\s*(\d+) identities found\s*\Z")
_FIND_IDENTITY_SHA1_RE = re.compile(r"[0-9A-Fa-f]{40}\Z")

_MATCHING = "matching"
_VALID_ONLY = "valid-only"
_PLAIN = "plain"


def parse_find_identity(text):
    """Parse ``security find-identity [-v] [-p policy]`` output.

    Returns ``[{"sha1", "name", "valid"}]`` with every identity once, in order of first
    appearance. An identity is valid when it is listed under "Valid identities only" or in
    ``-v`` output (no section headers); entries under "Matching identities", and entries with a
    status suffix such as ``(CSSMERR_TP_NOT_TRUSTED)`` outside "Valid identities only", are not.
    The hash is upper-cased and otherwise kept as printed.

    Only find-identity output is accepted: every run of find-identity ends its listing with an
    ``<n> identities found`` / ``<n> valid identities found`` line, so text without one (another
    command's output, an empty string) raises :class:`ParseError` instead of meaning "no
    identities"; so does a count that differs from the entries listed above it (a cut-short
    listing), a numbered line that is not ``<n>) <40 hex digits> "<name>"`` and any line that
    find-identity does not print (blank lines, ``Policy:`` and the section headers are its own).
    """
    if not isinstance(text, str):
        raise ParseError("find-identity output must be text, not %s" % type(text).__name__)
    check_utf8(text, "find-identity output")
    section = _PLAIN
    found = {}
    order = []
    counted = False
    listed = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("Policy: "):
            continue
        if stripped == "Matching identities":
            section, listed = _MATCHING, 0
            continue
        if stripped == "Valid identities only":
            section, listed = _VALID_ONLY, 0
            continue
        count = _FOUND_VALID_RE.match(line) or _FOUND_RE.match(line)
        if count:
            if int(count.group(1)) != listed:
                raise ParseError("find-identity line %d counts %s identities but %d are listed above it: "
                                 "the output is cut short or not find-identity output" % (number, count.group(1), listed))
            counted = True
            listed = 0
            if _FOUND_VALID_RE.match(line):
                # End of one find-identity run; a following run starts from scratch.
                section = _PLAIN
            continue
        if not _ENTRY_START_RE.match(line):
            raise ParseError("find-identity line %d is not find-identity output: %r" % (number, line))
        match = _IDENTITY_RE.match(line)
        if not match:
            raise ParseError("find-identity line %d is not '<n>) <SHA-1> \"<name>\"': %r" % (number, line))
        sha1, name, status = match.group(1).upper(), match.group(2), match.group(3)
        if not _FIND_IDENTITY_SHA1_RE.match(sha1):
            raise ParseError("find-identity line %d: SHA-1 %r is not 40 hexadecimal digits" % (number, match.group(1)))
        listed += 1
        valid = section == _VALID_ONLY or (section == _PLAIN and status is None)
        if sha1 not in found:
            found[sha1] = {"sha1": sha1, "name": name, "valid": valid}
            order.append(sha1)
        elif valid:
            found[sha1]["valid"] = True
        if status and section != _VALID_ONLY:
            # The validity mark find-identity prints, e.g. CSSMERR_TP_NOT_TRUSTED (reference §4.1).
            found[sha1]["status"] = status
    if not counted:
        raise ParseError("no '<n> valid identities found' line: the text is not security find-identity output")
    if listed:
        raise ParseError("find-identity output ends after %d identities without their '<n> identities found' line: "
                         "it is cut short" % listed)
    return [found[sha1] for sha1 in order]


_QUOTED_PATH_RE = re.compile(r'^\s*"(.*)"\s*\Z')


def parse_keychain_list(text):
    """Parse ``security list-keychains`` / ``default-keychain`` output into a list of paths.

    Each keychain is printed on its own line, indented and double-quoted. Blank lines are
    skipped; any other line raises :class:`ParseError`.
    """
    paths = []
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        match = _QUOTED_PATH_RE.match(line)
        if not match:
            raise ParseError("keychain list line %d is not a double-quoted path: %r" % (number, line))
        paths.append(match.group(1))
    return paths


_KEYCHAIN_INFO_RE = re.compile(r'^\s*Keychain "(.*)"((?:\s+\S+)*)\s*\Z')
_TIMEOUT_RE = re.compile(r"^timeout=(\d+)s\Z")


def parse_keychain_info(text):
    """Parse ``security show-keychain-info <kc>`` into ``{"path", "lock_on_sleep", "timeout"}``.

    The line is ``Keychain "<path>"`` followed by an optional ``lock-on-sleep`` and either
    ``no-timeout`` (``timeout`` is ``None``) or ``timeout=<n>s`` (``timeout`` is ``n``).
    ``security`` writes it to stderr, so pass both streams joined. Raises :class:`ParseError`
    when no such line is found or a word is not understood.
    """
    for line in (text or "").splitlines():
        match = _KEYCHAIN_INFO_RE.match(line)
        if not match:
            continue
        lock_on_sleep = False
        timeout = None
        seen_timeout = False
        for word in match.group(2).split():
            timeout_match = _TIMEOUT_RE.match(word)
            if word == "lock-on-sleep" and not lock_on_sleep:
                lock_on_sleep = True
            elif word == "no-timeout" and not seen_timeout:
                seen_timeout = True
            elif timeout_match and not seen_timeout:
                seen_timeout = True
                timeout = int(timeout_match.group(1))
            else:
                raise ParseError("show-keychain-info: unexpected %r in %r" % (word, line))
        if not seen_timeout:
            raise ParseError("show-keychain-info: no timeout setting in %r" % line)
        return {"path": match.group(1), "lock_on_sleep": lock_on_sleep, "timeout": timeout}
    raise ParseError("show-keychain-info printed no 'Keychain \"<path>\" ...' line")


_HASH_LINE_RE = re.compile(r"^SHA-(1|256) hash: ([0-9A-Fa-f]+)\s*\Z")
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"


def parse_find_certificate_pem(text):
    """Parse ``security find-certificate -a -Z -p`` output into ``[{"sha1", "der"}]``.

    Each certificate is printed as ``SHA-256 hash: <hex>`` (macOS 10.13 and later), ``SHA-1 hash:
    <hex>`` and a PEM block. The SHA-1 is upper-cased; it must be the SHA-1 of the block's DER bytes
    (a mismatch means the output was not understood). A PEM block without a preceding SHA-1 line, a
    SHA-1 line without a block, or an unterminated block raises :class:`ParseError`. Other lines are
    skipped.
    """
    if not isinstance(text, str):
        raise ParseError("find-certificate output must be text, not %s" % type(text).__name__)
    result = []
    sha1 = None
    pem = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if pem is not None:
            if stripped != _PEM_END:
                pem.append(stripped)
                continue
            try:
                der = base64.b64decode("".join(pem).encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise ParseError("find-certificate line %d ends a PEM block that is not base64" % number)
            if hashlib.sha1(der).hexdigest().upper() != sha1:
                raise ParseError("find-certificate line %d: the PEM block is not the certificate of SHA-1 %s"
                                 % (number, sha1))
            result.append({"sha1": sha1, "der": der})
            sha1 = pem = None
            continue
        match = _HASH_LINE_RE.match(stripped)
        if match:
            if sha1 is not None and match.group(1) == "1":
                raise ParseError("find-certificate line %d: SHA-1 %s has no PEM block" % (number, sha1))
            if match.group(1) == "1":
                sha1 = match.group(2).upper()
        elif stripped == _PEM_BEGIN:
            if sha1 is None:
                raise ParseError("find-certificate line %d: PEM block without a 'SHA-1 hash:' line (use -Z)" % number)
            pem = []
    if pem is not None:
        raise ParseError("find-certificate output ends inside a PEM block")
    if sha1 is not None:
        raise ParseError("find-certificate output ends after SHA-1 %s without its PEM block (use -p)" % sha1)
    return result
