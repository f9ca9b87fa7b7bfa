#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launchd_verify
short_description: Prove that a launchd job signs, inside its own session, not over SSH
version_added: 0.2.0
description:
  - Bootstraps a one-shot launchd job (O(plist), in the system domain) that runs the signing entry point
    C(macmesh-agent-job sign --password-fifo O(password_fifo)), hands it the keychain password once through
    that FIFO, waits for the job's JSON result line (matched by O(correlation_id)) in O(log), reads the job
    with C(launchctl print system/<label>) and boots it out again.
  - Fails with the likely cause first - a job without C(UserName)/C(SessionCreate) runs in the system security
    session, where the CI user's keychain cannot be used (C(errSecInternalComponent)).
  - The password goes through a FIFO (mode 0600, owned by the job's user) that is removed afterwards; it is
    never in an argument list, an environment, the plist or a log.
  - Run as root. Reports no change (the verify signs a scratch file only).
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module runs nothing and reports no change (the verify changes nothing anyway).
  diff_mode:
    support: none
options:
  label:
    description: Label of the verify job (the C(Label) in O(plist)).
    type: str
    required: true
  plist:
    description: The verify job's plist (its C(StandardOutPath) must be O(log)).
    type: path
    required: true
  log:
    description: Where the job's JSON result line appears (the job's C(StandardOutPath)).
    type: path
    required: true
  password_fifo:
    description: Path of the FIFO the job reads the password from. Created and removed by the module.
    type: path
    required: true
  fifo_owner:
    description: User the job runs as; owns the FIFO.
    type: str
    default: ci-build
  password:
    description: The keychain password; written once into the FIFO.
    type: str
    required: true
  correlation_id:
    description: The correlation id the job logs (it is in the job's ProgramArguments).
    type: str
    required: true
  timeout:
    description: Seconds to wait for the job to read the password and for its result line.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Sign inside the CI agent's launchd session
  macmesh.signing.launchd_verify:
    label: com.macmesh.ci-agent.verify
    plist: /Library/MacMesh/launchd/com.macmesh.ci-agent.verify.plist
    log: /Library/Logs/MacMesh/ci-agent/verify.log
    password_fifo: /Library/MacMesh/run/ci-agent-verify.fifo
    password: "{{ keychain_password }}"
    correlation_id: "ci-agent-verify-{{ inventory_hostname }}"
  no_log: true
"""

RETURN = r"""
record:
  description: The job's JSON result line (region, correlation id, manifest version, result, error), or null.
  returned: always
  type: dict
job:
  description: What C(launchctl print) said about the job (user, session_create, state, last_exit).
  returned: always
  type: dict
msg:
  description: The outcome, naming the cause on failure.
  returned: always
  type: str
"""

import os
import pwd
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.macmesh.signing.plugins.module_utils._agent import LAUNCHCTL, explain_verify, find_record, read_job


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except (IOError, OSError):
        return ""


def _feed(path, secret, deadline):
    """Write the secret into the FIFO once a reader has opened it (ENXIO until then)."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != 6 or time.time() > deadline:  # ENXIO: no reader yet
                return False
            time.sleep(0.05)
    try:
        os.write(fd, (secret + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            label=dict(type="str", required=True),
            plist=dict(type="path", required=True),
            log=dict(type="path", required=True),
            password_fifo=dict(type="path", required=True),
            fifo_owner=dict(type="str", default="ci-build"),
            password=dict(type="str", required=True, no_log=True),
            correlation_id=dict(type="str", required=True),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, record=None, job={}, msg="check mode: the verify job was not run")
    label, fifo, timeout = params["label"], params["password_fifo"], params["timeout"]
    try:
        owner = pwd.getpwnam(params["fifo_owner"])
    except KeyError:
        module.fail_json(msg="fifo_owner: user %s does not exist" % params["fifo_owner"])

    def run(argv):
        return module.run_command(argv, environ_update={"LC_ALL": "C"})

    run([LAUNCHCTL, "bootout", "system/%s" % label])  # a leftover of an interrupted run
    if os.path.lexists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, owner.pw_uid, owner.pw_gid)
    if not stat.S_ISFIFO(os.lstat(fifo).st_mode):
        module.fail_json(msg="%s: could not create the FIFO" % fifo)
    started = len(_read(params["log"]))
    record, job, fed = None, {}, False
    try:
        rc, out, err = run([LAUNCHCTL, "bootstrap", "system", params["plist"]])
        if rc != 0:
            module.fail_json(msg="launchctl bootstrap system %s failed (exit %d): %s"
                             % (params["plist"], rc, (err or out).strip()))
        deadline = time.time() + timeout
        fed = _feed(fifo, params["password"], deadline)
        while time.time() < deadline:
            record = find_record(_read(params["log"])[started:], params["correlation_id"])
            if record is not None:
                break
            time.sleep(0.1)
        job = read_job(label, run)
    finally:
        run([LAUNCHCTL, "bootout", "system/%s" % label])
        if os.path.lexists(fifo):
            os.unlink(fifo)
    ok, message = explain_verify(label, record, job, timeout)
    if not fed and record is None:
        message += " (the job never opened %s for the password)" % fifo
    if not ok:
        module.fail_json(msg=message, record=record, job=job)
    module.exit_json(changed=False, msg=message, record=record, job=job)


if __name__ == "__main__":
    main()
