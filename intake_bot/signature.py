"""Who signed a mail: the certificate subject of an S/MIME signature, the key of a PGP one (not verified)."""

from __future__ import annotations

import base64
import binascii
import re

from . import ber

SIGNED_DATA = "1.2.840.113549.1.7.2"
ENVELOPED = frozenset({"1.2.840.113549.1.7.3", "1.2.840.113549.1.9.16.1.23"})  # enveloped, auth-enveloped
_NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
          "2.5.4.5": "serialNumber", "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.12": "title",
          "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.97": "organizationIdentifier"}


def cms_kind(der: bytes) -> str:
    """'signed', 'enveloped' or 'unknown' for a PKCS#7 / CMS ContentInfo."""
    try:
        kind = ber.oid(der, ber.parse(der).child(0))
    except ber.BerError:
        return "unknown"
    return "signed" if kind == SIGNED_DATA else "enveloped" if kind in ENVELOPED else "unknown"


def _signed_data(der: bytes) -> ber.Node:
    root = ber.parse(der)
    if ber.oid(der, root.child(0)) != SIGNED_DATA:
        raise ber.BerError("not a signed-data structure")
    return root.child(1).child(0)


def smime_content(der: bytes) -> bytes | None:
    """The signed MIME entity inside an opaque signature (application/pkcs7-mime; smime-type=signed-data)."""
    try:
        encap = _signed_data(der).child(2)
        return ber.octets(der, encap.child(1).child(0)) if len(encap.children) > 1 else None
    except ber.BerError:
        return None


def smime_signer(der: bytes) -> str:
    """The subject of the signer's certificate ('CN=…,O=…,C=FR'), '' when it cannot be read."""
    try:
        signed = _signed_data(der)
        certs = next((c.children for c in signed.children if c.tag == 0xA0), [])
        infos = signed.children[-1].children
        wanted = _issuer_serial(der, infos[0]) if infos else None
        for cert in certs:
            fields = _tbs_fields(cert)
            if wanted is None or wanted == (_raw(der, fields[2]), _raw(der, fields[0])):
                return _name(der, fields[4])
        return _name(der, _tbs_fields(certs[0])[4]) if certs else ""
    except (ber.BerError, IndexError):
        return ""


def _raw(der: bytes, node: ber.Node) -> bytes:
    return der[node.start:node.end]


def _tbs_fields(cert: ber.Node) -> list[ber.Node]:
    """serialNumber, signature, issuer, validity, subject, … of a certificate (the version is skipped)."""
    tbs = cert.child(0)
    return tbs.children[1:] if tbs.child(0).tag == 0xA0 else tbs.children


def _issuer_serial(der: bytes, info: ber.Node) -> tuple[bytes, bytes] | None:
    sid = info.child(1)
    if sid.tag != 0x30:  # subjectKeyIdentifier: no issuer to match
        return None
    issuer, serial = sid.child(0), sid.child(1)
    return _raw(der, issuer), _raw(der, serial)


def _name(der: bytes, name: ber.Node) -> str:
    parts = []
    for rdn in reversed(name.children):  # RFC 4514: most specific first
        for attribute in rdn.children:
            key = ber.oid(der, attribute.child(0))
            parts.append(f"{_NAMES.get(key, key)}={ber.text(der, attribute.child(1))}")
    return ",".join(parts)


_ARMOR = re.compile(rb"-----BEGIN PGP (?:SIGNATURE|MESSAGE)-----\r?\n(.*?)-----END PGP", re.DOTALL)
_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/]+=*")  # armor headers have ':' and spaces, the checksum starts with '='



def pgp_signer(data: bytes) -> str:
    """The issuer of an OpenPGP signature: fingerprint (or key id), with the signer's user id when given."""
    try:
        packet = _pgp_packet(_dearmor(data))
        found = _pgp_subpackets(packet)
    except (IndexError, ValueError, binascii.Error):
        return ""
    key = found.get(33, b"")[1:].hex().upper() or found.get(16, b"").hex().upper()
    user = found.get(28, b"").decode("utf-8", "replace")
    return f"{user} ({key})" if user and key else user or key


def _dearmor(data: bytes) -> bytes:
    """The binary packets of an ASCII-armored block (armor headers and the checksum line dropped)."""
    match = _ARMOR.search(data)
    if not match:
        return data
    lines = (line.strip() for line in match.group(1).split(b"\n"))
    return base64.b64decode(b"".join(line for line in lines if _BASE64_LINE.fullmatch(line)))


def _pgp_packet(raw: bytes) -> bytes:
    """The body of the first packet (a signature packet, tag 2)."""
    head = raw[0]
    if head & 0x40:  # new format
        first, pos = raw[1], 2
        if first < 192:
            length = first
        elif first < 224:
            length, pos = ((first - 192) << 8) + raw[2] + 192, 3
        else:
            length, pos = int.from_bytes(raw[2:6], "big") if first == 255 else len(raw), 6 if first == 255 else 2
        return raw[pos:pos + length]
    size = (1, 2, 4, 0)[head & 0x03]
    length = int.from_bytes(raw[1:1 + size], "big") if size else len(raw)
    return raw[1 + size:1 + size + length]


def _pgp_subpackets(packet: bytes) -> dict[int, bytes]:
    """Subpackets by type (16 issuer key id, 28 signer's user id, 33 issuer fingerprint); v3 gives the key id."""
    version = packet[0]
    if version == 3:
        return {16: packet[7:15]}
    width = 4 if version == 6 else 2
    found: dict[int, bytes] = {}
    pos = 4
    for _ in range(2):  # hashed, then unhashed subpackets
        size = int.from_bytes(packet[pos:pos + width], "big")
        area, pos = packet[pos + width:pos + width + size], pos + width + size
        found.update(_subpacket_area(area))
    return found


def _subpacket_area(area: bytes) -> dict[int, bytes]:
    found, pos = {}, 0
    while pos < len(area):
        first = area[pos]
        if first < 192:
            length, pos = first, pos + 1
        elif first < 255:
            length, pos = ((first - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            length, pos = int.from_bytes(area[pos + 1:pos + 5], "big"), pos + 5
        if length == 0:
            break
        found[area[pos] & 0x7F] = area[pos + 1:pos + length]
        pos += length
    return found
