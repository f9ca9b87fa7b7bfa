# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The drills reuse the integration tests' lab (tests/integration/conftest.py and labkit.py).

MACMESH_IT_SUBNET / MACMESH_IT_LAB_DIR (or MESHLAB_DIR + MESHLAB_SUBNET for a running lab) pick
the lab, as for the integration tests. DRILL_POINTS=all runs every kill point (make drills);
otherwise the sample (make drills-sample), and DRILL_SAMPLE=quick the smaller sample make test runs
(one kill at a boundary, one inside a task and one reboot of the bootstrap, one kill of the rotation's
canary, the revocation killed after the keychains were deleted, and a hung region during converge).
The summary line lists the points tried and survived.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)

_spec = importlib.util.spec_from_file_location("macmesh_it_conftest", os.path.join(INTEGRATION, "conftest.py"))
_it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_it)

lab = _it.lab
demo_assets = _it.demo_assets
first_bootstrap = _it.first_bootstrap
bootstrapped = _it.bootstrapped

DRILL_STATS = {"tried": [], "survived": []}
# make test's sample (DRILL_SAMPLE=quick); DRILL_POINTS, when set, wins.
QUICK = os.environ.get("DRILL_SAMPLE") == "quick" and not os.environ.get("DRILL_POINTS")


def pytest_terminal_summary(terminalreporter):
    if DRILL_STATS["tried"]:
        terminalreporter.write_line("drills: %d kill/reboot points tried, %d survived: %s" % (
            len(DRILL_STATS["tried"]), len(DRILL_STATS["survived"]), ", ".join(DRILL_STATS["tried"])))
