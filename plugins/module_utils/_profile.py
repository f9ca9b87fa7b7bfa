# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Read Apple provisioning profiles (.mobileprovision / .provisionprofile).

A profile is a CMS SignedData blob whose embedded content is an XML plist. The blob is
walked with a small BER reader (standard library only, because this runs on the nodes'
/usr/bin/python3) instead of calling openssl: macOS has no openssl CLI we can rely on,
and Apple tools often emit BER (indefinite lengths, chunked OCTET STRINGs), which a
DER-only reader would reject. The signature is not verified here: Xcode and codesign
do that when the profile is used; this module only reports what the profile declares.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import plistlib
import re
import xml.parsers.expat
from collections import namedtuple


UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# DER encodings of the object identifiers this reader checks.
_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_OID_DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
_OID_COMMON_NAME = bytes.fromhex("550403")  # 2.5.4.3

_UNIVERSAL, _CONTEXT = 0, 2
_INTEGER, _OCTET_STRING, _OID, _SEQUENCE, _SET = 2, 4, 6, 16, 17
_UTC_TIME, _GENERALIZED_TIME = 23, 24
_STRING_CODECS = {
    12: "utf-8",  # UTF8String
    19: "latin-1",  # PrintableString
    20: "latin-1",  # TeletexString: treated as Latin-1, as most toolkits do
    22: "latin-1",  # IA5String
    28: "utf-32-be",  # UniversalString
    30: "utf-16-be",  # BMPString
}
# Real profiles nest a few levels deep; a limit keeps hostile input from exhausting the stack.
_MAX_DEPTH = 32


class ProfileError(Exception):
    """A profile could not be read. ``source`` names the file, ``field`` the part that is wrong."""

    def __init__(self, source, field, message):
        self.source = source
        self.field = field
        self.message = message
        super(ProfileError, self).__init__("%s: %s: %s" % (source, field, message))


class _Truncated(Exception):
    """An element claims more bytes than the input holds."""


class _Malformed(Exception):
    """The input is not a valid BER encoding."""


# One BER element: tag class/number, whether it is constructed, its content
# boundaries [start, end) and the offset of the next sibling.
_Element = namedtuple("_Element", "cls constructed number start end next")


def _read(data, pos, limit, depth=0):
    """Read the element at ``pos``; it must end at or before ``limit``."""
    if depth > _MAX_DEPTH:
        raise _Malformed("nesting deeper than %d levels" % _MAX_DEPTH)
    if pos >= limit:
        raise _Truncated("element expected at offset %d" % pos)
    first = data[pos]
    cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    pos += 1
    if number == 0x1F:
        number = 0
        while True:
            if pos >= limit:
                raise _Truncated("tag runs past the end of the data")
            octet = data[pos]
            pos += 1
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
    if pos >= limit:
        raise _Truncated("length missing at offset %d" % pos)
    length = data[pos]
    pos += 1
    if length == 0x80:
        if not constructed:
            raise _Malformed("indefinite length on a primitive element at offset %d" % (pos - 2))
        start = end = pos
        while True:
            if end + 2 > limit:
                raise _Truncated("indefinite-length element has no end-of-contents")
            if data[end] == 0 and data[end + 1] == 0:
                return _Element(cls, constructed, number, start, end, end + 2)
            end = _read(data, end, limit, depth + 1).next
    if length & 0x80:
        count = length & 0x7F
        if count > 8:
            raise _Malformed("length of %d octets at offset %d" % (count, pos - 1))
        if pos + count > limit:
            raise _Truncated("length runs past the end of the data")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > limit:
        raise _Truncated("element at offset %d needs %d bytes, %d left" % (pos, length, limit - pos))
    return _Element(cls, constructed, number, pos, pos + length, pos + length)


def _children(data, parent, depth=0):
    """Return the elements inside a constructed element."""
    if not parent.constructed:
        raise _Malformed("primitive element where a constructed one was expected")
    items = []
    pos = parent.start
    while pos < parent.end:
        item = _read(data, pos, parent.end, depth + 1)
        items.append(item)
        pos = item.next
    return items


def _is(element, cls, number, constructed=None):
    return (
        element.cls == cls
        and element.number == number
        and (constructed is None or element.constructed == constructed)
    )


def _expect(items, index, cls, number, what):
    if index >= len(items) or not _is(items[index], cls, number):
        raise _Malformed("%s missing" % what)
    return items[index]


def _octet_string(data, element, depth=0):
    """Content of an OCTET STRING, joining the chunks of a constructed (BER) one."""
    if not _is(element, _UNIVERSAL, _OCTET_STRING):
        raise _Malformed("OCTET STRING expected")
    if not element.constructed:
        return bytes(data[element.start:element.end])
    return b"".join(_octet_string(data, chunk, depth + 1) for chunk in _children(data, element, depth))


def _cms_content(data):
    """Return the encapsulated content of a CMS SignedData blob (RFC 5652, section 5)."""
    top = _read(data, 0, len(data))
    if not _is(top, _UNIVERSAL, _SEQUENCE, True):
        raise _Malformed("not an ASN.1 SEQUENCE")
    content_info = _children(data, top)
    oid = _expect(content_info, 0, _UNIVERSAL, _OID, "contentType")
    if bytes(data[oid.start:oid.end]) != _OID_SIGNED_DATA:
        raise _Malformed("contentType is not signedData")
    explicit = _expect(content_info, 1, _CONTEXT, 0, "content [0]")
    signed_data = _expect(_children(data, explicit), 0, _UNIVERSAL, _SEQUENCE, "SignedData")
    fields = _children(data, signed_data)
    _expect(fields, 0, _UNIVERSAL, _INTEGER, "SignedData version")
    _expect(fields, 1, _UNIVERSAL, _SET, "digestAlgorithms")
    encap = _children(data, _expect(fields, 2, _UNIVERSAL, _SEQUENCE, "encapContentInfo"))
    econtent_type = _expect(encap, 0, _UNIVERSAL, _OID, "eContentType")
    if bytes(data[econtent_type.start:econtent_type.end]) != _OID_DATA:
        raise _Malformed("eContentType is not data")
    econtent = _expect(encap, 1, _CONTEXT, 0, "eContent (detached signature?)")
    return _octet_string(data, _expect(_children(data, econtent), 0, _UNIVERSAL, _OCTET_STRING, "eContent"))


def _asn1_time(data, element):
    text = bytes(data[element.start:element.end]).decode("ascii")
    if element.number == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        year = int(text[:2])
        # RFC 5280 4.1.2.5.1: two-digit years 50-99 are 19xx, 00-49 are 20xx.
        text = ("19" if year >= 50 else "20") + text
    if len(text) != 15 or not text.endswith("Z"):
        raise _Malformed("unsupported time %r" % text)
    return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").strftime(TIME_FORMAT)


def _common_name(data, name):
    """First commonName of an X.501 Name, or None."""
    for rdn in _children(data, name):
        for attribute in _children(data, rdn):
            parts = _children(data, attribute)
            if len(parts) == 2 and bytes(data[parts[0].start:parts[0].end]) == _OID_COMMON_NAME:
                codec = _STRING_CODECS.get(parts[1].number)
                if codec is None:
                    raise _Malformed("commonName has unsupported string type %d" % parts[1].number)
                return bytes(data[parts[1].start:parts[1].end]).decode(codec)
    return None


def certificate_info(der):
    """Return ``{sha1, not_after, subject_cn}`` of a DER X.509 certificate.

    Raises ValueError when ``der`` is not a certificate.
    """
    try:
        top = _read(der, 0, len(der))
        if not _is(top, _UNIVERSAL, _SEQUENCE, True) or top.next != len(der):
            raise _Malformed("not a single DER SEQUENCE")
        tbs = _children(der, _expect(_children(der, top), 0, _UNIVERSAL, _SEQUENCE, "tbsCertificate"))
        # Skip the optional explicit version [0].
        index = 1 if tbs and _is(tbs[0], _CONTEXT, 0) else 0
        _expect(tbs, index, _UNIVERSAL, _INTEGER, "serialNumber")
        _expect(tbs, index + 1, _UNIVERSAL, _SEQUENCE, "signature")
        _expect(tbs, index + 2, _UNIVERSAL, _SEQUENCE, "issuer")
        validity = _children(der, _expect(tbs, index + 3, _UNIVERSAL, _SEQUENCE, "validity"))
        if len(validity) != 2 or not all(t.number in (_UTC_TIME, _GENERALIZED_TIME) for t in validity):
            raise _Malformed("validity is not two times")
        subject = _expect(tbs, index + 4, _UNIVERSAL, _SEQUENCE, "subject")
        not_after = _asn1_time(der, validity[1])
        subject_cn = _common_name(der, subject)
    except (_Truncated, _Malformed, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(str(exc) or exc.__class__.__name__)
    return {
        "sha1": hashlib.sha1(der).hexdigest().upper(),
        "not_after": not_after,
        "subject_cn": subject_cn,
    }


def _require(plist, key, kind, source, what):
    value = plist.get(key)
    if value is None:
        raise ProfileError(source, key, "missing from the profile plist")
    if not isinstance(value, kind):
        raise ProfileError(source, key, "must be %s, got %s" % (what, type(value).__name__))
    return value


def _timestamp(plist, key, source):
    value = _require(plist, key, datetime.datetime, source, "a date")
    # plistlib returns naive datetimes that are already UTC.
    return value.strftime(TIME_FORMAT)


def _string_list(plist, key, source, required):
    value = plist.get(key)
    if value is None and not required:
        return []
    value = _require(plist, key, list, source, "an array")
    if (required and not value) or not all(isinstance(item, str) for item in value):
        raise ProfileError(source, key, "must be a non-empty array of strings" if required else "must be an array of strings")
    return value


def parse_profile(data, source="<bytes>"):
    """Return the facts of a provisioning profile given its bytes.

    ``source`` names the profile in error messages. Raises ProfileError naming the field
    that is missing or wrong.
    """
    data = bytes(data)
    try:
        content = _cms_content(data)
    except _Truncated as exc:
        raise ProfileError(source, "CMS", "file is truncated (%s)" % exc)
    except _Malformed as exc:
        raise ProfileError(source, "CMS", "not a CMS SignedData blob (%s)" % exc)

    try:
        plist = plistlib.loads(content)
    except (plistlib.InvalidFileException, ValueError, xml.parsers.expat.ExpatError) as exc:
        raise ProfileError(source, "plist", "embedded content is not a property list (%s)" % exc)
    if not isinstance(plist, dict):
        raise ProfileError(source, "plist", "embedded property list is not a dictionary")

    uuid = _require(plist, "UUID", str, source, "a string")
    if not UUID_RE.match(uuid):
        raise ProfileError(source, "UUID", "%r is not a UUID" % uuid)
    name = _require(plist, "Name", str, source, "a string")
    team_id = _string_list(plist, "TeamIdentifier", source, required=True)[0]
    team_name = plist.get("TeamName")
    if team_name is not None and not isinstance(team_name, str):
        raise ProfileError(source, "TeamName", "must be a string")

    entitlements = plist.get("Entitlements", {})
    if not isinstance(entitlements, dict):
        raise ProfileError(source, "Entitlements", "must be a dictionary")
    # iOS profiles use application-identifier, macOS ones com.apple.application-identifier.
    app_id = entitlements.get("application-identifier", entitlements.get("com.apple.application-identifier"))
    if not isinstance(app_id, str) or "." not in app_id:
        raise ProfileError(source, "Entitlements.application-identifier", "missing or not '<prefix>.<bundle id>'")
    # The first component is the App ID prefix (the Team ID, or a legacy seed ID).
    bundle_id = app_id.split(".", 1)[1]

    certificates = _require(plist, "DeveloperCertificates", list, source, "an array")
    if not certificates:
        raise ProfileError(source, "DeveloperCertificates", "the profile lists no developer certificate")
    certificate_infos = []
    for index, der in enumerate(certificates):
        field = "DeveloperCertificates[%d]" % index
        if not isinstance(der, bytes):
            raise ProfileError(source, field, "must be data")
        try:
            certificate_infos.append(certificate_info(der))
        except ValueError as exc:
            raise ProfileError(source, field, "not a DER X.509 certificate (%s)" % exc)

    devices = plist.get("ProvisionedDevices", [])
    if not isinstance(devices, list):
        raise ProfileError(source, "ProvisionedDevices", "must be an array")

    return {
        "uuid": uuid,
        "name": name,
        "team_id": team_id,
        "team_name": team_name,
        "app_id": app_id,
        "bundle_id": bundle_id,
        "platforms": _string_list(plist, "Platform", source, required=False),
        "created": _timestamp(plist, "CreationDate", source),
        "expires": _timestamp(plist, "ExpirationDate", source),
        "certificates": certificate_infos,
        "devices": len(devices),
        "provisions_all_devices": plist.get("ProvisionsAllDevices") is True,
        "entitlement_keys": sorted(entitlements),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_profile(path):
    """Read and parse the profile at ``path`` (errors name the path)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ProfileError(path, "file", "cannot be read (%s)" % exc)
    return parse_profile(data, source=path)
