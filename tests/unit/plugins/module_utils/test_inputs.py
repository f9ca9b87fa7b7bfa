# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_inputs.guard_spec: unknown secret-looking options masked and refused, wrong element types named."""

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils._inputs import guard_spec, looks_secret

SPEC = {
    "src": {"type": "path", "required": True},
    "identities": {"type": "list", "elements": "dict", "options": {
        "path": {"type": "path", "required": True},
        "passphrase": {"type": "str", "no_log": True},
    }},
}


@pytest.mark.parametrize("name", ["password", "pasword", "passwd", "pwd", "pass_phrase", "api_token", "secret",
                                  "private_key", "pin", "keychain_pw", "credentials"])
def test_secret_looking_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["path", "src", "dest", "version", "state", "name"])
def test_plain_names(name):
    assert not looks_secret(name)


def test_known_options_pass_unchanged():
    params = {"src": "/p", "identities": [{"path": "/a.p12", "passphrase": "x"}]}
    spec, mask, problems = guard_spec(SPEC, params)
    assert spec == SPEC and mask == [] and problems == []


def test_unknown_secret_suboption_is_declared_no_log_and_reported():
    params = {"src": "/p", "identities": [{"path": "/a.p12", "passphrase": "ok"}, {"path": "/b.p12", "password": "S3cret"}]}
    spec, _mask, problems = guard_spec(SPEC, params)
    assert spec["identities"]["options"]["password"] == {"type": "raw", "no_log": True}
    assert problems == ["identities[1].password: unknown option (its value is not shown); did you mean passphrase?"]
    assert "S3cret" not in repr(problems)
    # The caller's spec is not modified.
    assert "password" not in SPEC["identities"]["options"]


def test_unknown_secret_top_level_option():
    spec, mask, problems = guard_spec(SPEC, {"src": "/p", "api_token": ["t1", "t2"]})
    assert spec["api_token"]["no_log"] is True
    assert mask == ["t1", "t2"]
    assert problems[0].startswith("api_token: unknown option")


def test_unknown_plain_option_is_left_to_ansible():
    spec, _mask, problems = guard_spec(SPEC, {"src": "/p", "destination": "/x"})
    assert "destination" not in spec and problems == []


def test_string_elements_relax_the_list_and_mask_the_secrets_of_the_others():
    params = {"src": "/p", "identities": ["/keys/dist.p12", {"path": "/b.p12", "passphrase": "S3cret"}]}
    spec, mask, problems = guard_spec(SPEC, params)
    assert spec["identities"]["elements"] == "raw" and "options" not in spec["identities"]
    assert mask == ["S3cret"]
    assert problems == ["identities[0]: must be a dict with the keys passphrase, path, not the str '/keys/dist.p12'; "
                        "write it as `- path: ...`"]


def test_a_string_that_is_not_a_file_name_is_not_repeated():
    _spec, _mask, problems = guard_spec(SPEC, {"src": "/p", "identities": ["hunter2"]})
    assert "hunter2" not in problems[0]


def test_unreadable_params_change_nothing():
    assert guard_spec(SPEC, None) == (SPEC, [], [])
