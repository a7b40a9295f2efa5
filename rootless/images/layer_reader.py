"""A lean reader of layer tars (POSIX ustar, pax, GNU long names), read forwards once.

Python's tarfile spends ~50 us of Python per entry on headers (two per entry
when every entry has a pax header, as GNU tar --xattrs writes them): a third of
the applier's CPU on a distro layer, which is the critical path of a
single-layer pull (bench/README.md "Single-layer pull"). This reads the formats
image layers use the way Go's archive/tar (docker's and containerd's reader)
does, and refuses what tarfile lets through silently:
  - a header with a bad checksum is an error, not the end of the archive;
  - numeric fields are octal digits or GNU base-256; no sign, `0o` or `_`;
  - pax records are `<length> <key>=<value>\\n` with the length right; pax and
    GNU long-name data is at most SPECIAL_MAX bytes (tarfile reads any size);
  - the archive ends at a zero block followed by another or by nothing, or (as
    umoci writes layers) right after a complete member; a truncated header or
    member is an error;
  - sparse members (GNU type S, pax GNU.sparse.*) are refused: no image tool
    writes them, and a hole map is more hostile input to parse;
  - pax global headers (type g) are skipped, as docker skips them.
Entries of any other type come back with their data skipped; the applier decides.
"""
from __future__ import annotations

import re
import struct
from typing import Dict, Iterator, List, Optional, Protocol, Tuple

from rootless.errors import InvalidArgument

BLOCK = 512
CHUNK = 1 << 20  # what layer_tar's reader thread hands over at once
SPECIAL_MAX = 1 << 20  # pax headers and GNU long names (Go's archive/tar: maxSpecialFileSize)
ZERO_BLOCK = bytes(BLOCK)
USTAR_MAGIC = b"ustar\x00"  # POSIX; GNU's "ustar  \0" keeps atime/ctime where ustar has the prefix
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_SIGNED = struct.Struct("148b8x356b")  # old writers summed signed chars
_PAX_TIME = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?\Z")
# What lchown, utime and makedev take; beyond, they raise OverflowError (not an OSError).
ID_LIMIT = 1 << 32
TIME_LIMIT = 1 << 40  # seconds: about 35,000 years either way of 1970
DEVICE_LIMIT = 1 << 32

REGULAR_TYPES = (b"0", b"\x00", b"7")  # file, old-style file, contiguous file
# Types whose size field says nothing about data (Go's isHeaderOnlyType; tarfile agrees).
HEADER_ONLY_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")
PAX_NUMBERS = ("uid", "gid", "size")


class TarEntry:
    """One member: the fields of tarfile.TarInfo the layer applier uses."""

    __slots__ = ("name", "type", "mode", "uid", "gid", "size", "mtime", "linkname", "devmajor",
                 "devminor", "pax_headers")

    def __init__(self, name: str, kind: bytes, numbers: Tuple[int, int, int, int], mtime: float,
                 linkname: str, pax_headers: Dict[str, str]) -> None:
        self.name, self.type, self.linkname, self.mtime = name, kind, linkname, mtime
        self.mode, self.uid, self.gid, self.size = numbers
        self.devmajor = self.devminor = 0
        self.pax_headers = pax_headers

    def isreg(self) -> bool:
        return self.type in REGULAR_TYPES

    def isdir(self) -> bool:
        return self.type == b"5"

    def issym(self) -> bool:
        return self.type == b"2"

    def islnk(self) -> bool:
        return self.type == b"1"

    def isfifo(self) -> bool:
        return self.type == b"6"

    def ischr(self) -> bool:
        return self.type == b"3"

    def isblk(self) -> bool:
        return self.type == b"4"


class TarReader:
    """Entries of a tar stream and, right after each, its data (data()); never seeks."""

    def __init__(self, source: "Source", what: str) -> None:
        self._source = source
        self._what = what          # "can't unpack layer: <digest>", for errors
        self._buffer = b""         # the last chunk read from source
        self._offset = 0           # read position in _buffer
        self._position = 0         # bytes of the tar consumed, for errors
        self._data_left = 0        # data of the current entry not read yet
        self._padding = 0          # then its padding up to a whole block
        self._at_end = False

    def _refuse(self, reason: str) -> InvalidArgument:
        return InvalidArgument(f"{self._what}: corrupt tar at byte {self._position}: {reason}")

    def __iter__(self) -> Iterator[TarEntry]:
        while True:
            entry = self.next()
            if entry is None:
                return
            yield entry

    def next(self) -> Optional[TarEntry]:
        """The next entry, its special headers applied; None at the end of the archive."""
        self._skip_data()
        pax: Dict[str, str] = {}
        long_names: Dict[bytes, str] = {}
        while not self._at_end:
            block = self._take(BLOCK)
            if len(block) < BLOCK or block == ZERO_BLOCK:
                if pax or long_names:
                    raise self._refuse("pax or long-name header without its entry")
                if block:  # a zero block, or a truncated header
                    self._end_of_archive(block)
                # else the stream just ended (umoci writes no end-of-archive blocks), or was empty
                self._at_end = True
                return None
            fields = self._header(block)
            kind = fields[7]
            if kind not in (b"x", b"g", b"L", b"K"):
                return self._entry(fields, pax, long_names)
            data = self._special(self._number(fields[4], "size"))
            if kind == b"x":
                pax = self._pax(data)  # a second one replaces the first, as in Go
            elif kind in (b"L", b"K"):
                long_names[kind] = _text(data.split(b"\x00", 1)[0])
        return None

    def data(self) -> Iterator[memoryview]:
        """The current entry's data in pieces: views of the chunks read, not copies."""
        while self._data_left > 0:
            if self._offset >= len(self._buffer) and not self._fill():
                raise self._refuse("unexpected end of data")
            piece = memoryview(self._buffer)[self._offset:self._offset + self._data_left]
            self._offset += len(piece)
            self._position += len(piece)
            self._data_left -= len(piece)
            yield piece

    # -- the stream ------------------------------------------------------------------
    def _fill(self) -> bool:
        self._buffer, self._offset = self._source.read1(CHUNK), 0
        return bool(self._buffer)

    def _take(self, size: int) -> bytes:
        """size bytes, fewer only at the end of the stream."""
        parts: List[bytes] = []
        while size > 0 and (self._offset < len(self._buffer) or self._fill()):
            part = self._buffer[self._offset:self._offset + size]
            self._offset += len(part)
            self._position += len(part)
            size -= len(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _skip_data(self) -> None:
        for _ in self.data():
            pass
        padding, self._padding = self._padding, 0
        if len(self._take(padding)) < padding:
            self._at_end = True  # a last member without its padding (umoci): the end

    def _end_of_archive(self, block: bytes) -> None:
        """A zero block and then another or nothing; anything else is not a tar."""
        if len(block) < BLOCK:
            raise self._refuse("truncated header")
        second = self._take(BLOCK)
        if second and second != ZERO_BLOCK:
            raise self._refuse("data after an end-of-archive block")

    def _special(self, size: int) -> bytes:
        if size > SPECIAL_MAX:
            raise self._refuse(f"pax or long-name header of {size} bytes (at most {SPECIAL_MAX})")
        data = self._take(size)
        if len(data) < size or len(self._take(-size % BLOCK)) < -size % BLOCK:
            raise self._refuse("truncated header")
        return data

    # -- headers ---------------------------------------------------------------------
    def _header(self, block: bytes) -> Tuple[bytes, ...]:
        fields: Tuple[bytes, ...] = _HEADER.unpack(block)
        stored = self._number(fields[6], "checksum")
        unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
        if stored != unsigned and stored != sum(_SIGNED.unpack(block)) + 8 * 0x20:
            raise self._refuse("bad header checksum")
        return fields

    def _number(self, field: bytes, what: str, signed: bool = False) -> int:
        """An octal field (NUL- or space-terminated) or GNU base-256 (first byte 0x80, or 0xff: negative)."""
        if field[:1] == b"\x80":
            return int.from_bytes(field[1:], "big")
        if field[:1] == b"\xff" and signed:
            return int.from_bytes(field, "big", signed=True)
        digits = field.split(b"\x00", 1)[0].strip(b" ")
        if not digits:
            return 0
        if not digits.isdigit() or b"8" in digits or b"9" in digits:
            raise self._refuse(f"{what} field {field!r} is not an octal number")
        return int(digits, 8)

    def _entry(self, fields: Tuple[bytes, ...], pax: Dict[str, str], long_names: Dict[bytes, str]) -> TarEntry:
        kind = fields[7]
        name = _text(fields[0].split(b"\x00", 1)[0])
        if fields[9] == USTAR_MAGIC and fields[15][:1] != b"\x00":
            name = _text(fields[15].split(b"\x00", 1)[0]) + "/" + name
        if kind == b"S" or any(key.startswith("GNU.sparse.") for key in pax):
            raise self._refuse(f"{name!r}: sparse files are not supported")
        numbers = (self._number(fields[1], "mode") & 0o7777, self._number(fields[2], "uid"),
                   self._number(fields[3], "gid"), self._number(fields[4], "size"))
        mtime: float = self._number(fields[5], "mtime", signed=True)
        linkname = _text(fields[8].split(b"\x00", 1)[0])
        name, linkname, numbers, mtime = self._apply_pax(pax, (name, linkname), numbers, mtime)
        name, linkname = long_names.get(b"L", name), long_names.get(b"K", linkname)
        if kind == b"\x00" and name.endswith("/"):
            kind = b"5"  # old tars mark a directory by its trailing slash
        if kind == b"5":
            name = name.rstrip("/")  # as tarfile has it
        if "\x00" in name or "\x00" in linkname:
            raise self._refuse(f"{name!r}: NUL in a name")
        if numbers[1] >= ID_LIMIT or numbers[2] >= ID_LIMIT or not -TIME_LIMIT < mtime < TIME_LIMIT:
            raise self._refuse(f"{name!r}: uid, gid or mtime out of range")
        entry = TarEntry(name, kind, numbers, mtime, linkname, pax)
        if kind in (b"3", b"4"):
            entry.devmajor, entry.devminor = self._number(fields[13], "devmajor"), self._number(fields[14], "devminor")
            if entry.devmajor >= DEVICE_LIMIT or entry.devminor >= DEVICE_LIMIT:
                raise self._refuse(f"{name!r}: device number out of range")
        if kind in HEADER_ONLY_TYPES:
            entry.size = 0
        self._data_left, self._padding = entry.size, -entry.size % BLOCK
        return entry

    def _apply_pax(self, pax: Dict[str, str], names: Tuple[str, str], numbers: Tuple[int, int, int, int],
                   mtime: float) -> Tuple[str, str, Tuple[int, int, int, int], float]:
        """The pax records that override header fields: path, linkpath, uid, gid, size, mtime."""
        if not pax:
            return names[0], names[1], numbers, mtime
        values = list(numbers)
        for index, key in enumerate(PAX_NUMBERS, start=1):
            if key in pax:
                if not pax[key].isdigit() or not pax[key].isascii() or len(pax[key]) > 20:
                    raise self._refuse(f"pax {key} {pax[key]!r:.40} is not a number")
                values[index] = int(pax[key])
        if "mtime" in pax:
            if not _PAX_TIME.match(pax["mtime"]):
                raise self._refuse(f"pax mtime {pax['mtime']!r:.40} is not a time")
            mtime = float(pax["mtime"])
        numbers = (values[0], values[1], values[2], values[3])
        return pax.get("path", names[0]), pax.get("linkpath", names[1]), numbers, mtime

    def _pax(self, data: bytes) -> Dict[str, str]:
        """`<length> <key>=<value>\\n` records (POSIX pax); keys UTF-8, values UTF-8 or raw bytes."""
        records: Dict[str, str] = {}
        position = 0
        while position < len(data):
            space = data.find(b" ", position, position + 20)
            digits = data[position:space] if space > position else b""
            if not digits.isdigit() or int(digits) <= space - position + 1:
                raise self._refuse("bad pax record length")
            end = position + int(digits)
            key, equals, value = data[space + 1:end - 1].partition(b"=")
            if end > len(data) or data[end - 1:end] != b"\n" or not equals or not key:
                raise self._refuse("bad pax record")
            records[_text(key)] = _text(value)
            position = end
        return records


def _text(raw: bytes) -> str:
    # tarfile's choice for layers too (errors="surrogateescape"): any bytes round-trip to the fs.
    return raw.decode("utf-8", "surrogateescape")


class Source(Protocol):
    """What TarReader reads from: read1(size) gives what one buffer holds, up to size; b"" at the end.

    (io.BufferedReader.read1 and BytesIO.read1 do; so does layer_tar's reader thread.)
    Not read(size): that would join two buffers into a copy wherever a chunk ends short.
    """

    def read1(self, size: int = -1, /) -> bytes: ...
