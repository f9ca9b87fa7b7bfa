# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""JMESPath over the compliance document: selections and pipeline gates.

Runs on the controller only (the ``compliance_report`` module, delegated to localhost, and the
``compliance_query`` filter): ``jmespath`` is a controller dependency, and no module that runs
on a Mac imports this file. A *gate* is a named expression; it fails when its result selects
something (a non-empty list, object or string, ``true``, or a non-zero number), so
``findings[?severity=='error' && contains(['hk', 'us'], region)]`` fails the pipeline exactly
when an error finding stands in hk or us.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import traceback

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
except ImportError:
    jmespath = None
    JMESPathError = ValueError
    JMESPATH_IMPORT_ERROR = traceback.format_exc()
else:
    JMESPATH_IMPORT_ERROR = None

HAS_JMESPATH = jmespath is not None
MISSING_JMESPATH = ("needs the Python library jmespath on the controller (the Python that runs "
                    "ansible-playbook): pip install jmespath; execution environments get it from the "
                    "collection's requirements.txt")


class QueryError(ValueError):
    """A query that cannot run; ``option`` names the option (or argument) that holds it."""

    def __init__(self, option, message):
        super(QueryError, self).__init__("%s: %s" % (option, message))
        self.option = option


def _one_line(exc):
    """jmespath's parse errors draw a caret under the expression on two more lines; keep one."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int) and "position" not in text:
        text = "%s (at character %d)" % (text.rstrip(":"), position)
    return text


def compile_query(option, expression):
    """Compile ``expression``; :class:`QueryError` naming ``option`` when it is not valid JMESPath."""
    if not HAS_JMESPATH:
        raise QueryError(option, MISSING_JMESPATH)
    if not isinstance(expression, str) or not expression.strip():
        raise QueryError(option, "must be a non-empty JMESPath expression, not %r" % (expression,))
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise QueryError(option, "invalid JMESPath expression %r: %s" % (expression, _one_line(exc)))


def search(option, expression, document):
    """The result of ``expression`` over ``document``.

    An expression can parse and still fail on the data (an unknown function, a function given the
    wrong type): both are a :class:`QueryError` naming ``option``.
    """
    compiled = compile_query(option, expression)
    try:
        return compiled.search(document)
    except JMESPathError as exc:
        raise QueryError(option, "JMESPath expression %r failed: %s" % (expression, _one_line(exc)))


def plain(document):
    """``document`` with plain JSON types: jmespath checks types by class name, so a str subclass
    (as Ansible's templating hands out) would not count as a string. A JSON text is parsed."""
    if isinstance(document, (bytes, str)):
        try:
            return json.loads(document)
        except ValueError as exc:
            raise QueryError("document", "is text but not JSON (%s); pass the parsed compliance.json" % exc)
    return json.loads(json.dumps(document))


def selects_something(result):
    """Whether a gate's result fails it: anything but null, false, 0, "", [] and {}."""
    if result is None or result is False:
        return False
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return result != 0
    if isinstance(result, (str, list, dict)):
        return len(result) > 0
    return True


def selected_count(result):
    """How many items a result selects: the length of a list, object or string; 1 or 0 otherwise."""
    if isinstance(result, (str, list, dict)):
        return len(result)
    return 1 if selects_something(result) else 0


def _names(queries, option):
    if not isinstance(queries, dict):
        raise QueryError(option, "must be a dict of name -> JMESPath expression, not %s" % type(queries).__name__)
    return [(str(name), expression) for name, expression in queries.items()]


def check_queries(queries, option):
    """Compile every expression of ``queries`` (name -> expression) before anything runs."""
    for name, expression in _names(queries, option):
        compile_query("%s[%s]" % (option, name), expression)


def select(document, queries, option="select"):
    """``{name: result}`` for every named expression."""
    return dict((name, search("%s[%s]" % (option, name), expression, document))
                for name, expression in _names(queries, option))


def evaluate_gates(document, gates, option="gate"):
    """One ``{name, query, failed, count, result}`` per gate, in the order given."""
    results = []
    for name, expression in _names(gates, option):
        result = search("%s[%s]" % (option, name), expression, document)
        results.append({"name": name, "query": expression, "failed": selects_something(result),
                        "count": selected_count(result), "result": result})
    return results


def _describe(item):
    if isinstance(item, dict):
        if "code" in item:
            where = item.get("host") or item.get("region") or "mesh"
            return "%s %s" % (where, item["code"])
        if "host" in item:
            return str(item["host"])
    if isinstance(item, str):
        return item
    return json.dumps(item, sort_keys=True)


def gate_message(results, limit=10):
    """One sentence per failed gate: its name, how much it selected, and the first items."""
    parts = []
    for gate in results:
        if not gate["failed"]:
            continue
        result = gate["result"]
        if isinstance(result, list):
            items = [_describe(item) for item in result[:limit]]
            more = " and %d more" % (len(result) - limit) if len(result) > limit else ""
            shown = ", ".join(items) + more
        elif isinstance(result, dict):
            shown = ", ".join(sorted(str(key) for key in result)[:limit])
        else:
            shown = _describe(result)
        parts.append("gate %r failed: %s selected by %s: %s" % (
            gate["name"], gate["count"], gate["query"], shown))
    return "; ".join(parts)


def apply_to_report(report, gates=None, selects=None):
    """Run ``selects`` and ``gates`` over the built compliance document.

    Returns ``(selected, gate_results)``; when gates are given, the document gets a ``gates`` list
    (name, query, failed, count: the selections themselves stay out of the files) so the HTML and
    JUnit show which gate stopped the pipeline. Gates see the document without that list.
    """
    selected = select(report, selects) if selects else {}
    gate_results = evaluate_gates(report, gates) if gates else []
    if gate_results:
        report["gates"] = [dict((key, gate[key]) for key in ("name", "query", "failed", "count")) for gate in gate_results]
    return selected, gate_results
