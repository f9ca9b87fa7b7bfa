"""Each role README's variable table is the one generated from its meta/argument_specs.yml."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


TOOL = os.path.join(ROOT, "tools", "role_readme_tables.py")


@pytest.mark.skipif(not os.path.exists(TOOL), reason="developer tool, not in the collection artifact")
def test_role_readme_tables_match_argument_specs():
    result = subprocess.run([sys.executable, TOOL, "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
