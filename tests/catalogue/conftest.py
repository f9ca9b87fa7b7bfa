# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The catalogue's summary line, printed even with -q."""


def pytest_terminal_summary(terminalreporter):
    from test_catalogue import STATS  # pylint: disable=import-outside-toplevel

    if STATS["cases"]:
        terminalreporter.write_line(
            "bad-input catalogue: %d cases, %d refused as expected, %d with files written on error, "
            "%d secrets seen (%.0f s)" % (STATS["cases"], STATS["passed"], STATS["written"], STATS["secrets"],
                                          STATS["seconds"]))
        terminalreporter.write_line("catalogue runs (s): %s" % STATS.get("runs"))
