# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The finding codes of mesh parity, their severities, and which checks need which signing_info field.

The report (``_report``) and the docs (docs/compliance.md) read the same table. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Tier names as they appear in findings and verdicts; the inventory groups behind them are
# expected.signer_group / expected.builder_group.
SIGNERS = "signers"
BUILDERS = "builders"
ERROR = "error"
# signing_info's reason for a part left out of its ``gather`` option.
NOT_GATHERED = "not gathered"
WARNING = "warning"

# Every finding code with the severity it normally carries and what it means. Codes are a
# stable interface: reports and playbooks match on them.
CODES = {
    "UNREACHABLE": (ERROR, "the host could not be reached; its other checks were not evaluated"),
    "FACTS_FAILED": (ERROR, "the signing_info task failed on the host"),
    "NO_FACTS": (ERROR, "the host is in a region group but no signing_info result was given (or it was skipped)"),
    "FACT_UNAVAILABLE": (ERROR, "signing_info could not read a field (warning for informational fields)"),
    "REGION_UNKNOWN": (ERROR, "the host is in none of the expected region groups"),
    "REGION_AMBIGUOUS": (ERROR, "the host is in several region groups"),
    "REGION_EMPTY": (ERROR, "an expected region has no host"),
    "TIER_UNKNOWN": (ERROR, "the host is in neither the signers nor the builders group"),
    "TIER_AMBIGUOUS": (ERROR, "the host is in both the signers and the builders group"),
    "MANIFEST_DRIFT": (ERROR, "the active manifest is not the expected one (or there is none)"),
    "MANIFEST_SHA_DIVERGES_IN_TIER": (WARNING, "hosts of one tier run different manifests"),
    "PROFILE_MISSING": (ERROR, "a manifest profile is not installed"),
    "PROFILE_EXTRA": (ERROR, "an installed profile is not in the manifest"),
    "PROFILE_SHA_MISMATCH": (ERROR, "an installed profile differs from its manifest entry"),
    "PROFILE_EXPIRED": (ERROR, "an installed profile has expired"),
    "PROFILE_UNREADABLE": (ERROR, "a file in a profile directory could not be read as a profile"),
    "PROFILE_OVERLAP_NO_SUCCESSOR": (WARNING, "a profile is in its overlap window and the manifest has no successor "
                                              "(error once fewer than overlap_min_days are left)"),
    "DUPLICATE_UUID": (ERROR, "a profile UUID is present in both Xcode profile directories"),
    "PROFILE_DIR_WRITABLE": (ERROR, "the CI user can write to a profile directory"),
    "PROFILE_IN_CACHE": (ERROR, "a profile or profile directory lives under DerivedData or Caches"),
    "PROFILE_ROOT_MISMATCH": (ERROR, "a profile directory or the active manifest is not under profile_root"),
    "PROFILE_KEPT_TAMPERED": (ERROR, "the profile version kept for rollback differs from the manifest it was published "
                                     "from (a file changed, missing or added, or its owner or mode)"),
    "KEY_ON_BUILDER": (ERROR, "a builder holds a signing identity (dedicated topology)"),
    "IDENTITY_UNDECLARED": (ERROR, "a host holds an identity it is not declared to hold"),
    "IDENTITY_MISSING": (ERROR, "a host lacks a valid identity it is declared to hold"),
    "IDENTITY_UNTRUSTED": (ERROR, "a declared identity is present but not valid: its chain is incomplete "
                                  "(missing Apple intermediate), untrusted or expired"),
    "KEY_COPIES_EXCEEDED": (ERROR, "an identity is held by more than max_key_copies hosts"),
    "IDENTITY_HASHES_EXCEEDED": (ERROR, "the mesh holds more than max_identity_hashes identity sets; "
                                        "hosts with the newest sets are blocked"),
    "IDENTITY_SET_DIVERGES": (WARNING, "a host's identity set differs from the mesh's usual set (distributed)"),
    "KEYCHAIN_PATH_MISMATCH": (ERROR, "the keychain inspected is not at keychain_path"),
    "KEYCHAIN_MISSING": (ERROR, "a signing host has no signing keychain"),
    "KEYCHAIN_SETTINGS": (ERROR, "the keychain timeout or lock-on-sleep differs from keychain_settings"),
    "KEYCHAIN_PERMISSIONS": (ERROR, "the keychain file is not owned by keychain_owner or its mode is not keychain_mode"),
    "WRAPPER_MISMATCH": (ERROR, "the unlock wrapper is missing or its sha256 differs from wrapper_sha256"),
    "WRAPPER_LOG_UNSEALED": (ERROR, "the unlock wrapper's audit log is not append-only for the CI user (chflags sappnd, "
                                    "owner, mode, root-owned directory), or cannot be read"),
    "SEARCH_LIST": (ERROR, "signing hosts: signing keychain not first; other hosts: signing keychain listed"),
    "CERT_EXPIRING": (WARNING, "a held certificate expires within cert_warn_days"),
    "CERT_EXPIRING_SOON": (ERROR, "a held certificate expires within cert_error_days"),
    "CERT_EXPIRED": (ERROR, "a held certificate has expired"),
    "CLOCK_OFFSET": (WARNING, "the host clock is off by more than max_clock_offset seconds "
                              "(error beyond max_clock_offset_error)"),
    "SECRET_FOUND": (ERROR, "the secret scan found a credential on the host (path and kind, never the value)"),
    "RELEASE_AHEAD": (ERROR, "the host records a newer release than the controller's current one (the controller's "
                             "releases/current is behind: a rotation promoted elsewhere, or current was moved back)"),
    "RELEASE_BEHIND": (ERROR, "the host records an older release than the controller's current one (enforce or the "
                              "bootstrap brings it up to date)"),
    "RELEASE_MISMATCH": (ERROR, "the host records a release with the current serial but other content (a release file "
                                "was edited after it was applied)"),
    "RELEASE_NOT_RECORDED": (WARNING, "the host records no release (bootstrapped before releases; enforce records it)"),
    "RELEASE_UNREADABLE": (ERROR, "the host's release record cannot be read"),
    # The CI agent's side (module_utils/_agent.py, _secret_versions.py; signing_info part "agent").
    "NOTARY_KEY_OUTSIDE_RAMDISK": (ERROR, "an App Store Connect API key (.p8) lives outside the notary RAM disk"),
    "NOTARY_RAMDISK_MISSING": (ERROR, "no RAM disk is mounted at the notary path on a notarizing host"),
    "NOTARY_RAMDISK_PERMISSIONS": (ERROR, "the notary RAM disk is not owned by the CI user, not mode 0700, "
                                          "or ignores ownership"),
    "NOTARY_JANITOR_NOT_LOADED": (ERROR, "the launchd job that wipes the notary RAM disk is not loaded"),
    "CI_AGENT_JOB": (ERROR, "the CI agent's launchd job is not loaded, or runs without UserName/SessionCreate"),
    "SESSION_TTL_ABOVE_POLICY": (ERROR, "the configured CI session TTL exceeds min(1.5 x build_p95 + margin, cap)"),
    "SECRET_VERSION_DIVERGES": (ERROR, "a host holds another version of a secret than the rest of the mesh"),
    "SECRET_VERSION_STALE": (ERROR, "the mesh holds another version of a secret than the vault lookup returns"),
}

# signing_info fields, and whom their absence hurts: "all" hosts, key "holder"s only, or
# nobody ("info", a warning). Fields with a dedicated code when null are listed in _NULL_CODES.
# ``unavailable`` also names parts of fields; see _need.
_FIELD_NEED = {
    "identities": "all",
    "keychain": "holder",
    "search_list": "all",
    "profiles": "all",
    "profile_dirs": "all",
    "duplicate_uuids": "all",
    "active_manifest": "all",
    "wrapper": "holder",
    "default_keychain": "info",
    "hardware_fingerprint": "info",
    "macos_version": "info",
    "clock_offset": "info",
}
_NULL_CODES = ("keychain", "wrapper", "wrapper.log", "active_manifest", "release_state")
# Read from the same find-identity output as ``identities``: their absence is reported there.
_DERIVED = ("identity_hash", "summary_hash")


def _need(name):
    """Whom the absence of an ``unavailable`` entry hurts (see _FIELD_NEED), and whether it is only a warning."""
    if name in _FIELD_NEED:
        need = _FIELD_NEED[name]
        return need, need == "info"
    if name.startswith("profiles:"):
        # A profile directory that cannot be listed leaves the profile set incomplete.
        return "all", False
    if name == "certificates":
        # Only the certificate expiry checks need them; they fall back to expected.certificate_expiry.
        return "holder", True
    if name.startswith("keychain."):
        # Settings of a locked keychain cannot be read; the keychain itself was found.
        return "holder", True
    return "info", True
