"""Offline stand-in for the pip bootstrap script that ``ansible-test --venv`` downloads.

ansible-test fetches ``get-pip-<version>.py`` from the internet, which this project's machines cannot
reach (only package registries are). It runs the cached script with pip's install arguments; this one
bootstraps pip from the standard library's ``ensurepip`` and then runs ``pip install`` with those
arguments, so the venv still installs from the configured package index.
"""
import ensurepip
import os
import subprocess
import sys


def main():
    # ensurepip sets PIP_CONFIG_FILE=/dev/null, which would hide the machine's pip configuration.
    ensurepip.bootstrap(upgrade=True)
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    if "install" not in args:
        args.insert(0, "install")
    sys.exit(subprocess.call([sys.executable, "-m", "pip"] + args, env=os.environ.copy()))


if __name__ == "__main__":
    main()
