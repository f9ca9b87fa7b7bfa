"""A tiny DER/BER reader: enough to classify PKCS#12 files and to unwrap CMS SignedData.

It accepts BER's indefinite lengths and constructed OCTET STRINGs because Keychain Access and
Apple's provisioning profiles produce them. Test equipment: it reads, never writes.
"""


class DERError(ValueError):
    pass


class Node(object):
    """One TLV. `tag` is the identifier octet, `raw` the content octets (definite form) and
    `children` the parsed content when the tag is constructed."""

    __slots__ = ("tag", "raw", "children", "encoded")

    def __init__(self, tag, raw, children, encoded=None):
        self.tag = tag
        self.raw = raw
        self.children = children
        self.encoded = encoded  # the whole TLV, for definite-length elements

    @property
    def constructed(self):
        return bool(self.tag & 0x20)

    def octets(self):
        """The value of an OCTET STRING, joining BER's constructed segments."""
        if self.children is None:
            return self.raw
        return b"".join(child.octets() for child in self.children)


def _read(data, pos, end):
    start = pos
    if pos + 2 > end:
        raise DERError("truncated header at %d" % pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not supported")
    length = data[pos + 1]
    pos += 2
    if length == 0x80:
        if not tag & 0x20:
            raise DERError("indefinite length on a primitive at %d" % pos)
        children = []
        while True:
            if pos + 2 > end:
                raise DERError("missing end-of-contents")
            if data[pos] == 0 and data[pos + 1] == 0:
                return Node(tag, None, children), pos + 2
            child, pos = _read(data, pos, end)
            children.append(child)
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise DERError("bad length at %d" % pos)
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise DERError("content runs past its parent at %d" % pos)
    raw = data[pos:pos + length]
    children = None
    if tag & 0x20:
        children = []
        cpos = 0
        while cpos < length:
            child, cpos = _read(raw, cpos, length)
            children.append(child)
    return Node(tag, raw, children, data[start:pos + length]), pos + length


def parse(data):
    """Parse one complete element; trailing bytes are an error."""
    data = bytes(data)
    node, pos = _read(data, 0, len(data))
    if pos != len(data):
        raise DERError("%d trailing bytes" % (len(data) - pos))
    return node


def oid(node):
    """Dotted string of an OBJECT IDENTIFIER node."""
    if node.tag != 0x06 or not node.raw:
        raise DERError("expected an OBJECT IDENTIFIER")
    raw = node.raw
    first = raw[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def explicit(node, number):
    """The single child inside a context-specific [number] EXPLICIT wrapper, or None."""
    for child in node.children or ():
        if child.tag == (0xA0 | number):
            return child.children[0] if child.children else None
    return None
