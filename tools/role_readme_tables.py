"""Regenerate the "Role variables" table of every role README from its meta/argument_specs.yml.

    python3 tools/role_readme_tables.py          rewrite the tables
    python3 tools/role_readme_tables.py --check  exit 1 and name the READMEs whose table is out of date

The table sits between the markers <!-- BEGIN ARGUMENT SPEC TABLE --> and <!-- END ARGUMENT SPEC
TABLE -->, so the argument spec (which Ansible uses to validate the variables) and the docs
cannot drift apart.
"""

import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- BEGIN ARGUMENT SPEC TABLE -->", "<!-- END ARGUMENT SPEC TABLE -->"


def _text(value):
    return re.sub(r"\s+", " ", str(value)).replace("|", "\\|").strip()


def _default(spec):
    if "default" not in spec:
        return ""
    value = spec["default"]
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (list, dict)):
        value = yaml.safe_dump(value, default_flow_style=True, width=10 ** 6).strip()
    return "`%s`" % _text(value)


def table(spec_path):
    with open(spec_path) as handle:
        options = (yaml.safe_load(handle)["argument_specs"]["main"] or {}).get("options") or {}
    rows = ["| variable | type | required | default | description |", "|---|---|---|---|---|"]
    for name, spec in options.items():
        kind = spec.get("type", "str")
        if kind == "list" and spec.get("elements"):
            kind = "list/%s" % spec["elements"]
        description = spec.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        rows.append("| `%s` | %s | %s | %s | %s |" % (
            name, kind, "yes" if spec.get("required") else "no", _default(spec), _text(description)))
    return "\n".join(rows)


def main(check):
    stale = []
    for spec_path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        readme = os.path.join(os.path.dirname(os.path.dirname(spec_path)), "README.md")
        with open(readme) as handle:
            text = handle.read()
        if BEGIN not in text or END not in text:
            stale.append("%s: no %s ... %s markers" % (readme, BEGIN, END))
            continue
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        new = "%s%s\n%s\n%s%s" % (head, BEGIN, table(spec_path), END, tail)
        if new != text:
            stale.append(readme)
            if not check:
                with open(readme, "w") as handle:
                    handle.write(new)
    if check and stale:
        print("out of date (run python3 tools/role_readme_tables.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
