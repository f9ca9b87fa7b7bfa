# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unreadable controller inputs are named, and stop a run as unreachable (exit 4), never as failed."""

import json
import os

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils._readable import check_inputs, read_input


def test_readable_json_object(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"version": "1"}))
    assert read_input(str(path), "json") == ({"version": "1"}, None)
    assert check_inputs([{"name": "manifest", "path": str(path), "kind": "json"}]) == []


@pytest.mark.parametrize("content,reason", [
    ("{not json", "not JSON"),
    ("[1, 2]", "a JSON list, expected an object"),
    (b"\xff\xfe", "not JSON"),
])
def test_json_that_is_not_an_object(tmp_path, content, reason):
    path = tmp_path / "profiles.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    document, why = read_input(str(path), "json")
    assert document is None and reason in why and str(path) in why


def test_missing_file_names_the_input_and_the_path(tmp_path):
    missing = str(tmp_path / "inventory" / "files" / "profiles" / "profiles.json")
    problems = check_inputs([{"name": "profile_mounts_manifest", "path": missing, "kind": "json"}])
    assert problems == ["profile_mounts_manifest: %s: no such file" % missing]


@pytest.mark.parametrize("path", [None, "", "  "])
def test_unset_path(path):
    assert check_inputs([{"name": "macmesh_manifest", "path": path}]) == [
        "macmesh_manifest: no path (the variable naming it is empty or not set)"]


def test_directory_kinds(tmp_path):
    assert read_input(str(tmp_path), "dir") == (str(tmp_path), None)
    assert "no such directory" in read_input(str(tmp_path / "nope"), "dir")[1]
    (tmp_path / "f").write_text("x")
    assert "not a directory" in read_input(str(tmp_path / "f"), "dir")[1]
    assert "is a directory" in read_input(str(tmp_path), "file")[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("x")
    path.chmod(0)
    assert "Permission denied" in read_input(str(path))[1]


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    problems = check_inputs([{"name": "a", "path": str(tmp_path / "a")}, {"name": "b", "path": str(tmp_path / "b")}])
    assert [p.split(":")[0] for p in problems] == ["a", "b"]
