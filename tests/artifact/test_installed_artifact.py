"""The collection artifact as a user installs it: ansible-core only, plus the declared dependencies.

`make artifact` builds the tarball and a virtualenv with ansible-core alone (tools/core-venv, no
`ansible` package, plus requirements.txt), then runs these tests. Galaxy is not reachable here, so
the declared collection dependencies are taken offline from the copies the `ansible` package bundles
(the interpreter running pytest has that package, from requirements-dev.txt) and placed into a fresh
collections directory before `ansible-galaxy collection install --offline` resolves them.

Environment: MACMESH_ARTIFACT (the tarball), MACMESH_CORE_VENV (the ansible-core-only venv).
"""

import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAMESPACE, NAME = "macmesh", "signing"
# FQCNs in YAML and templates: namespace.collection.plugin
FQCN_RE = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\b")
# Plugin directories a FQCN may resolve to (modules first: tasks call them).
PLUGIN_DIRS = ("modules", "action", "filter", "test", "lookup", "callback", "inventory", "module_utils")


def _artifact():
    path = os.environ.get("MACMESH_ARTIFACT") and os.path.abspath(os.environ["MACMESH_ARTIFACT"])
    if not path:
        found = sorted(glob.glob(os.path.join(REPO, "build", "macmesh-signing-*.tar.gz")))
        path = found[-1] if found else None
    if not path or not os.path.isfile(path):
        pytest.fail("no collection tarball: run `make artifact` (or set MACMESH_ARTIFACT)")
    return path


def _core_venv():
    venv = os.path.abspath(os.environ.get("MACMESH_CORE_VENV", ""))
    if not os.environ.get("MACMESH_CORE_VENV") or not os.path.isfile(os.path.join(venv, "bin", "ansible-playbook")):
        pytest.fail("no ansible-core-only venv: run `make artifact` (or set MACMESH_CORE_VENV)")
    return venv


def _bundled_collections():
    spec = importlib.util.find_spec("ansible_collections")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the `ansible` package (requirements-dev.txt) is needed for its bundled collections")
    return list(spec.submodule_search_locations)[0]


def _galaxy_manifest(artifact):
    with tarfile.open(artifact) as tar:
        return json.load(tar.extractfile("MANIFEST.json"))["collection_info"]


def _empty_config(collections):
    path = os.path.join(os.path.dirname(collections), "ansible.cfg")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("# no settings: what a fresh controller has\n[defaults]\n")
    return path


def _env(venv, collections):
    # Only the fresh collections directory: no checkout ansible.cfg, no ~/.ansible/collections, no
    # site-packages scan (the core venv has none, but the machine's other Pythons might).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=os.path.join(venv, "bin") + os.pathsep + env.get("PATH", ""),
        ANSIBLE_CONFIG=_empty_config(collections),
        ANSIBLE_COLLECTIONS_PATH=collections,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=os.path.join(collections, ".tmp"),
        ANSIBLE_HOME=os.path.join(collections, ".ansible-home"),
    )
    return env


def _run(argv, env, cwd):
    return subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                          text=True, timeout=300)


def _install(tmp, venv, with_dependencies=True):
    """A fresh collections dir: the declared dependencies from the bundled copies, then the tarball."""
    artifact = _artifact()
    collections = str(tmp / "collections")
    os.makedirs(collections)
    env = _env(venv, collections)
    bundled = _bundled_collections()
    declared = _galaxy_manifest(artifact)["dependencies"]
    if with_dependencies:
        for fqcn in declared:
            namespace, name = fqcn.split(".")
            src = os.path.join(bundled, namespace, name)
            assert os.path.isdir(src), "%s is declared but the ansible package bundles no copy of it" % fqcn
            shutil.copytree(src, os.path.join(collections, "ansible_collections", namespace, name), symlinks=True)
    argv = [os.path.join(venv, "bin", "ansible-galaxy"), "collection", "install", "--offline",
            "-p", collections, artifact]
    if not with_dependencies:
        argv.insert(4, "--no-deps")
    result = _run(argv, env, str(tmp))
    assert result.returncode == 0, result.stdout
    return collections, env, declared


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    venv = _core_venv()
    tmp = tmp_path_factory.mktemp("artifact")
    collections, env, declared = _install(tmp, venv)
    return {"venv": venv, "collections": collections, "env": env, "declared": declared, "tmp": tmp,
            "root": os.path.join(collections, "ansible_collections", NAMESPACE, NAME)}


def _playbooks(root):
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(root, "playbooks", "*.yml")))


def test_core_venv_has_no_ansible_package(installed):
    # The point of the exercise: nothing but ansible-core (and requirements.txt) in that venv.
    listed = _run([os.path.join(installed["venv"], "bin", "python"), "-m", "pip", "list", "--format=json"],
                  installed["env"], str(installed["tmp"]))
    packages = next(line for line in listed.stdout.splitlines() if line.startswith("["))
    names = {p["name"].lower() for p in json.loads(packages)}
    assert "ansible-core" in names
    assert "ansible" not in names, "the core venv must not have the ansible package"


def test_declared_dependencies_resolve_offline(installed):
    listed = _run([os.path.join(installed["venv"], "bin", "ansible-galaxy"), "collection", "list",
                   "-p", installed["collections"], "--format=json"], installed["env"], str(installed["tmp"]))
    assert listed.returncode == 0, listed.stdout
    found = {}
    for per_path in json.loads(listed.stdout).values():
        # ansible-core lists its own internal collections (ansible._protomatter in 2.19)
        found.update({fqcn: v for fqcn, v in per_path.items() if not fqcn.startswith("ansible.")})
    assert set(found) == {"%s.%s" % (NAMESPACE, NAME)} | set(installed["declared"]), found
    assert installed["declared"], "galaxy.yml declares no dependencies"


@pytest.mark.parametrize("playbook", _playbooks(REPO))
def test_every_playbook_passes_syntax_check(installed, playbook):
    assert playbook in _playbooks(installed["root"]), "%s is not in the artifact" % playbook
    result = _run([os.path.join(installed["venv"], "bin", "ansible-playbook"), "-i", "localhost,",
                   "--syntax-check", "%s.%s.%s" % (NAMESPACE, NAME, playbook)], installed["env"], str(installed["tmp"]))
    assert result.returncode == 0, result.stdout


def _fqcns(root):
    """Every namespace.collection.plugin named in the artifact's YAML and templates, with its file."""
    names = {}
    for pattern in ("playbooks/**/*.yml", "roles/**/*.yml", "roles/**/*.j2"):
        for path in glob.glob(os.path.join(root, pattern), recursive=True):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.lstrip().startswith("#"):
                        continue
                    for match in FQCN_RE.finditer(line):
                        names.setdefault(match.group(0), os.path.relpath(path, root))
    return names


def test_every_fqcn_resolves_in_the_installed_collections(installed):
    # --syntax-check resolves modules and actions, not filters or lookups inside templates
    # (community.general.dict_kv): look every FQCN up in what was installed.
    ansible_dir = os.path.join(installed["collections"], "ansible_collections")
    missing = []
    for fqcn, where in sorted(_fqcns(installed["root"]).items()):
        namespace, collection, plugin = fqcn.split(".")
        if (namespace, collection) == ("ansible", "builtin"):
            continue
        coll_dir = os.path.join(ansible_dir, namespace, collection)
        if not os.path.isdir(coll_dir):
            # e.g. a host or file name with two dots: only collections we know of count
            if "%s.%s" % (namespace, collection) in installed["declared"] or namespace == NAMESPACE:
                missing.append("%s (%s)" % (fqcn, where))
            elif os.path.isdir(os.path.join(_bundled_collections(), namespace, collection)):
                missing.append("%s (%s): collection %s.%s is not a declared dependency" % (
                    fqcn, where, namespace, collection))
            continue
        if os.path.isdir(os.path.join(coll_dir, "roles", plugin)):
            continue
        candidates = [os.path.join(coll_dir, "plugins", d, plugin + ".py") for d in PLUGIN_DIRS]
        candidates += [os.path.join(coll_dir, "plugins", d, plugin + ".yml") for d in ("filter", "test")]
        candidates += [os.path.join(coll_dir, "playbooks", plugin + ".yml")]
        if any(os.path.exists(c) for c in candidates) or _routed(coll_dir, plugin) or _in_filter_file(coll_dir, plugin):
            continue
        missing.append("%s (%s)" % (fqcn, where))
    assert not missing, "FQCNs that do not resolve with ansible-core and the declared dependencies: %s" % missing


def _routed(coll_dir, plugin):
    runtime = os.path.join(coll_dir, "meta", "runtime.yml")
    if not os.path.exists(runtime):
        return False
    with open(runtime, encoding="utf-8") as handle:
        routing = (yaml.safe_load(handle) or {}).get("plugin_routing", {})
    return any(plugin in (routing.get(kind) or {}) for kind in routing)


def _in_filter_file(coll_dir, plugin):
    # A filter file may hold several filters (FilterModule.filters()).
    for path in glob.glob(os.path.join(coll_dir, "plugins", "filter", "*.py")):
        with open(path, encoding="utf-8") as handle:
            if re.search(r"['\"]%s['\"]\s*:" % re.escape(plugin), handle.read()):
                return True
    return False


def test_without_the_declared_dependencies_a_playbook_does_not_parse(tmp_path):
    # The syntax check above can fail: without community.general the bootstrap's ci_user role
    # (community.general.osx_defaults) does not parse.
    venv = _core_venv()
    collections, env, _declared = _install(tmp_path, venv, with_dependencies=False)
    result = _run([os.path.join(venv, "bin", "ansible-playbook"), "-i", "localhost,", "--syntax-check",
                   "%s.%s.bootstrap" % (NAMESPACE, NAME)], env, str(tmp_path))
    assert result.returncode != 0
    assert "community.general.osx_defaults" in result.stdout, result.stdout


def _builder():
    found = shutil.which("ansible-builder", path=os.path.dirname(os.path.realpath(sys.executable)) + os.pathsep
                         + os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not found:
        pytest.fail("ansible-builder is not installed (requirements-dev.txt)")
    return found


@pytest.fixture(scope="module")
def ee_context(tmp_path_factory):
    """`ansible-builder create` for examples/ee with the artifact copied in, as its comment says."""
    work = tmp_path_factory.mktemp("ee")
    for name in os.listdir(os.path.join(REPO, "examples", "ee")):
        if name.endswith(".yml"):
            shutil.copy(os.path.join(REPO, "examples", "ee", name), work / name)
    shutil.copy(_artifact(), work / "macmesh-signing.tar.gz")
    result = _run([_builder(), "create", "-f", "execution-environment.yml", "-c", "context"],
                  dict(os.environ), str(work))
    assert result.returncode == 0, result.stdout
    return work / "context"


def test_ee_create_builds_a_context_with_the_artifact(ee_context):
    files = [os.path.join(ee_context, "Containerfile"), os.path.join(ee_context, "Dockerfile")]
    containerfile = next(open(f, encoding="utf-8").read() for f in files if os.path.exists(f))
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        requires = yaml.safe_load(handle)["requires_ansible"]
    # The EE's ansible-core is the collection's supported range.
    assert "ansible-core" + requires in containerfile
    assert os.path.isfile(os.path.join(ee_context, "_build", "collections", "macmesh-signing.tar.gz"))
    with open(os.path.join(ee_context, "_build", "requirements.yml"), encoding="utf-8") as handle:
        wanted = yaml.safe_load(handle)["collections"]
    assert wanted == [{"name": "/build/collections/macmesh-signing.tar.gz", "type": "file"}]
    assert "COPY _build /build" in containerfile


def test_ee_introspection_resolves_python_and_system_dependencies(installed, ee_context):
    # What the EE build runs over the installed collections (the builder stage of the Containerfile).
    introspect = os.path.join(ee_context, "_build", "scripts", "introspect.py")
    result = _run([os.path.join(installed["venv"], "bin", "python"), introspect, "introspect", installed["collections"]],
                  installed["env"], str(installed["tmp"]))
    assert result.returncode == 0, result.stdout
    data = yaml.safe_load(result.stdout[result.stdout.index("---"):])
    python = [line.split("#")[0].strip() for line in data["python"]]
    system = [line.split("#")[0].strip() for line in data["system"]]
    assert "cryptography>=38.0.0" in python and "jmespath>=1.0.0" in python, data
    assert "openssh-clients [platform:rpm]" in system and "openssh-client [platform:dpkg]" in system, data
    assert all("macmesh.signing" in line for line in data["python"] + data["system"]), data
