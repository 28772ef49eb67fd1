"""A small, slow, byte-level SAS transport v5 reader written straight from SAS TS-140, for tests only.

It shares no code with cdiscgen.export. Numbers are decoded with exact rational arithmetic (fractions),
so it is an independent oracle for the vectorised IBM conversion.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

RECORD = 80
MISSING_FIRST_BYTES = {0x2E, 0x5F} | set(range(0x41, 0x5B))  # ".", "_", "A".."Z"


@dataclass
class RefVariable:
    ntype: int  # 1 numeric, 2 character
    length: int
    varnum: int
    name: str
    label: str
    format_name: str
    format_length: int
    format_decimals: int
    justification: int
    informat_name: str
    position: int
    rest: bytes


@dataclass
class RefFile:
    records: list[bytes]  # the header records, as 80-byte strings, up to and including OBS
    sas_version: str
    os_name: str
    created: str
    modified: str
    dataset: str
    dataset_label: str
    dataset_type: str
    variables: list[RefVariable]
    rows: list[list[object]]  # float | None (missing) | str (trailing blanks removed)
    data_bytes: int  # bytes after the OBS header record


def ibm_to_fraction(raw: bytes) -> Fraction | None:
    """One IBM double (8 bytes, or fewer with the low bytes dropped) as an exact Fraction; None = missing."""
    raw = raw.ljust(8, b"\0")
    if raw[0] in MISSING_FIRST_BYTES and raw[1:] == b"\0" * 7:
        return None
    sign = -1 if raw[0] & 0x80 else 1
    exponent = (raw[0] & 0x7F) - 64
    mantissa = int.from_bytes(raw[1:], "big")
    return sign * Fraction(mantissa, 2**56) * Fraction(16) ** exponent


def read(path: str, encoding: str = "ascii") -> RefFile:
    data = open(path, "rb").read()
    assert len(data) % RECORD == 0, "file length is not a multiple of 80"
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + n]
        assert len(chunk) == n, "unexpected end of file"
        pos += n
        return chunk

    records = []
    lib = take(RECORD)
    records.append(lib)
    assert lib == b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    first = take(RECORD)
    records.append(first)
    assert first[:24] == b"SAS     SAS     SASLIB  "
    sas_version = first[24:32].decode("ascii").rstrip()
    os_name = first[32:40].decode("ascii").rstrip()
    assert first[40:64] == b" " * 24
    created = first[64:80].decode("ascii")
    second = take(RECORD)
    records.append(second)
    modified = second[:16].decode("ascii")
    member = take(RECORD)
    records.append(member)
    assert member[:48] == b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
    namestr_length = int(member[74:78])
    descriptor = take(RECORD)
    records.append(descriptor)
    assert descriptor == b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    m1 = take(RECORD)
    records.append(m1)
    assert m1[:8] == b"SAS     " and m1[16:24] == b"SASDATA "
    dataset = m1[8:16].decode("ascii").rstrip()
    m2 = take(RECORD)
    records.append(m2)
    dataset_label = m2[32:72].decode(encoding).rstrip()
    dataset_type = m2[72:80].decode("ascii").rstrip()
    nh = take(RECORD)
    records.append(nh)
    assert nh[:48] == b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
    count = int(nh[54:58])
    block = take(((count * namestr_length + RECORD - 1) // RECORD) * RECORD)
    records.extend(block[i : i + RECORD] for i in range(0, len(block), RECORD))
    variables = []
    for k in range(count):
        ns = block[k * namestr_length : (k + 1) * namestr_length]
        fields = struct.unpack(">hhhh8s40s8shhh2s8shhl52s", ns)
        (
            ntype,
            _hash,
            length,
            varnum,
            name,
            label,
            fname,
            fl,
            fd,
            fj,
            _fill,
            iname,
            _ifl,
            _ifd,
            npos,
            rest,
        ) = fields
        variables.append(
            RefVariable(
                ntype,
                length,
                varnum,
                name.decode("ascii").rstrip(),
                label.decode(encoding).rstrip(),
                fname.decode("ascii").rstrip(),
                fl,
                fd,
                fj,
                iname.decode("ascii").rstrip(),
                npos,
                rest,
            )
        )
    obs = take(RECORD)
    records.append(obs)
    assert obs == b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!" + b"0" * 30 + b"  "
    body = data[pos:]
    row_length = sum(v.length for v in variables)
    n = len(body) // row_length
    # Drop trailing all-blank "rows" that start inside the last 80-byte record: they are padding.
    while (
        n
        and (n - 1) * row_length > len(body) - RECORD
        and body[(n - 1) * row_length : n * row_length].strip(b" ") == b""
    ):
        n -= 1
    assert body[n * row_length :].strip(b" ") == b"", "non-blank bytes after the last observation"
    rows = []
    for i in range(n):
        row = body[i * row_length : (i + 1) * row_length]
        values: list[object] = []
        for v in variables:
            raw = row[v.position : v.position + v.length]
            if v.ntype == 1:
                value = ibm_to_fraction(raw)
                values.append(None if value is None else float(value))
            else:
                values.append(raw.decode(encoding).rstrip(" "))
        rows.append(values)
    return RefFile(
        records,
        sas_version,
        os_name,
        created,
        modified,
        dataset,
        dataset_label,
        dataset_type,
        variables,
        rows,
        len(body),
    )
