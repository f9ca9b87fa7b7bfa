"""Each role README's variable table is the one generated from its meta/argument_specs.yml."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_role_readme_tables_match_argument_specs():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "role_readme_tables.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
