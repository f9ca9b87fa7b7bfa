"""The node's compiled-code cache for zip-imported modules (AnsiballZ payloads): faster start-up,
nothing else a module can see. Run on the host's node Python with the seed's sitecustomize first."""

import os
import subprocess
import zipfile

import pytest

from _sysemu import NODE_PYTHON, SHIM_DIR, Env

MODULE = '''
def answer():
    return "v%d"

def fail():
    raise RuntimeError("from the payload")
'''

RUN = ("import sys; sys.path.insert(0, sys.argv[1]); import payload_mod, traceback\n"
       "print(payload_mod.answer())\n"
       "try:\n    payload_mod.fail()\nexcept RuntimeError:\n    print([l for l in traceback.format_exc().splitlines() if l.strip().startswith('File')][-1].strip())\n")


def payload(tmp_path, name, version):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload_mod.py", MODULE % version)
    return str(path)


def run(env, zip_path, cache, **extra):
    out = subprocess.run([NODE_PYTHON, "-c", RUN, zip_path], capture_output=True, text=True, timeout=30,
                         env=env.environ(PYTHONPATH=SHIM_DIR, MACEMU_CODE_CACHE_DIR=str(cache), **extra))
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.fixture
def env(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the cache is root's only")
    return Env(tmp_path)


def entries(cache):
    return sorted(name for name in os.listdir(cache)) if cache.exists() else []


def test_a_cached_module_runs_as_compiled_with_this_runs_path(env, tmp_path):
    cache = tmp_path / "cache"
    first_zip = payload(tmp_path, "a_payload.zip", 1)
    assert run(env, first_zip, cache)[0] == "v1"
    stored = entries(cache)
    assert len(stored) == 1 and not stored[0].endswith(".tmp")
    # A second run, from another temp path as AnsiballZ does, reads the cache: same answer, and a
    # traceback names this run's file, not the one that was compiled first.
    second_zip = payload(tmp_path, "b_payload.zip", 1)
    lines = run(env, second_zip, cache)
    assert lines[0] == "v1" and "b_payload.zip" in lines[1] and "a_payload.zip" not in lines[1]
    assert entries(cache) == stored


def test_the_cache_is_read_not_just_written(env, tmp_path):
    cache = tmp_path / "cache"
    zip_path = payload(tmp_path, "a_payload.zip", 1)
    run(env, zip_path, cache)
    # Replace the stored code with another module's: the next run must execute what is stored
    # (proves the lookup works; a cache that never hits would print v1).
    other = compile(MODULE % 9, "other.py", "exec")
    import marshal
    with open(str(cache / entries(cache)[0]), "wb") as handle:
        marshal.dump(other, handle)
    assert run(env, zip_path, cache)[0] == "v9"


def test_a_changed_source_is_compiled_again(env, tmp_path):
    cache = tmp_path / "cache"
    run(env, payload(tmp_path, "a_payload.zip", 1), cache)
    assert run(env, payload(tmp_path, "b_payload.zip", 2), cache)[0] == "v2"
    assert len(entries(cache)) == 2


def test_switched_off_it_writes_nothing(env, tmp_path):
    cache = tmp_path / "cache"
    assert run(env, payload(tmp_path, "a_payload.zip", 1), cache, MACEMU_CODE_CACHE="0")[0] == "v1"
    assert entries(cache) == []


def test_an_unwritable_cache_still_runs_the_module(env, tmp_path):
    cache = tmp_path / "not-a-dir"
    cache.write_text("a file where the directory should be")
    assert run(env, payload(tmp_path, "a_payload.zip", 1), cache / "sub")[0] == "v1"
