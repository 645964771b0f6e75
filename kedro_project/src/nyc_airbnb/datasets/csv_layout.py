"""Is a file CSV as the project reads it? Checks of its layout, before pandas parses it.

pandas' own errors on a malformed file (``ParserError: Expected 1 fields in line 3, saw 2``) name
neither the file nor the cause, and a last row cut mid-way is read without error, its missing
fields as nulls. These checks read the first and the last block of a file (two small reads, however
large it is) and fail with a ``CSVLayoutError`` that names the file, the problem and the fix.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Any

import fsspec
import pandas as pd
from kedro.io import DatasetError

from nyc_airbnb.validation import DataValidationError, ValidationFailure

#: bytes read at each end of a file: enough for a header or a row of listings
BLOCK_BYTES = 64 * 1024
#: separators a "CSV" export may use instead of the comma
OTHER_SEPARATORS = (";", "\t", "|")
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_EXPECTED_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
#: byte order marks of the encodings whose characters are several bytes each
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


class CSVLayoutError(DataValidationError, DatasetError):
    """A file is not CSV as configured (separator, rows cut or malformed). Not retryable.

    Also a ``DatasetError``: raised by a dataset's ``load``, Kedro passes it on unchanged.
    """


def _separator_name(sep: str) -> str:
    return f"{_SEPARATOR_NAMES.get(sep, repr(sep))}-separated"


def _fields(line: str, sep: str, quotechar: str) -> list[str]:
    """The fields of one CSV line; raises ``csv.Error`` if it ends inside a quoted field."""
    rows = list(csv.reader([line], delimiter=sep, quotechar=quotechar, strict=True))
    return rows[0] if rows else []


def _text_layout(encoding: str | None) -> bool:
    """Whether the separators and newlines of this encoding are single ASCII bytes."""
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32"))


def check_layout(
    fs: fsspec.AbstractFileSystem,
    path: str,
    url: str,
    dataset: str,
    load_args: dict[str, Any],
) -> None:
    """Fail if ``path`` is not CSV with the separator of ``load_args`` (a comma by default).

    Three problems are recognised:

    - the file is UTF-16 or UTF-32 text (a byte order mark, or NUL bytes in its first block: no
      listing holds one), which an ASCII-compatible reader would see as one garbled field;
    - the header is one field that another separator (``;``, tab, ``|``) splits into several;
    - the file does not end with a newline and its last row has fewer fields than the header, or
      ends inside a quoted field: the file was cut mid-row (an interrupted upload or copy).

    Compressed files and encodings whose separators are not single bytes are not checked.

    Raises:
        CSVLayoutError: naming the file, the problem and the fix.
    """
    sep = load_args.get("sep", load_args.get("delimiter")) or ","
    quotechar = load_args.get("quotechar") or '"'
    if (
        len(sep) != 1
        or load_args.get("compression") not in (None, "infer")
        or not path.lower().endswith(".csv")
        or not _text_layout(load_args.get("encoding"))
    ):
        return
    size = fs.size(path)
    if not size:
        return
    with fs.open(path, "rb") as stream:
        head = stream.read(min(size, BLOCK_BYTES))
        if size > BLOCK_BYTES:
            stream.seek(size - BLOCK_BYTES)
            tail = stream.read()
        else:
            tail = head
    _check_wide_encoding(head, url, dataset, load_args.get("encoding"))
    # latin-1 maps each byte to one character: the (ASCII) structure is intact in any ASCII-
    # compatible encoding, whatever the bytes of the text fields
    head_text = head.decode("latin-1").removeprefix("\xef\xbb\xbf")
    header_line, newline, _ = head_text.partition("\n")
    if not newline and size > BLOCK_BYTES:
        return  # a header longer than a block: not a listings file, let the contract say so
    try:
        header = _fields(header_line.rstrip("\r"), sep, quotechar)
    except csv.Error:
        return  # a header with a quoted newline: leave it to the parser
    if len(header) == 1:
        for other in OTHER_SEPARATORS:
            if other != sep and other in header_line:
                n = len(_fields(header_line.rstrip("\r"), other, quotechar))
                raise CSVLayoutError(dataset, [ValidationFailure(None, (
                    f"file {url} does not look {_separator_name(sep)}: its header has no "
                    f"{sep!r} but {n} fields separated by {other!r}; write the file with "
                    f"{sep!r} as the separator"
                ))])
    tail_text = tail.decode("latin-1")
    if tail_text.endswith(("\n", "\r")):
        return
    if "\n" not in tail_text:
        # one line in the last block: the header itself (a file without rows), or a row too
        # long to check
        return
    last_line = tail_text.rsplit("\n", 1)[1]
    rows = head_text.count("\n") if size <= BLOCK_BYTES else None
    where = f"line {rows + 1}" if rows is not None else "its last line"
    try:
        n = len(_fields(last_line, sep, quotechar))
    except csv.Error:
        problem = "ends inside a quoted field"
    else:
        if n >= len(header):
            return
        problem = f"has {n} of the header's {len(header)} fields"
    raise CSVLayoutError(dataset, [ValidationFailure(None, (
        f"file {url} is truncated: {where} {problem} and the file does not end with a newline; "
        "deliver the complete file again"
    ))])


def _check_wide_encoding(head: bytes, url: str, dataset: str, encoding: str | None) -> None:
    found = next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)
    if found is None and b"\x00" in head:
        found = "UTF-16 or UTF-32"
    if found is None:
        return
    expected = encoding or "utf-8"
    raise CSVLayoutError(dataset, [ValidationFailure(None, (
        f"file {url} is {found} text, not {expected}: export it again as {expected} "
        "(e.g. 'CSV UTF-8' in a spreadsheet, or `iconv -f UTF-16 -t UTF-8`)"
    ))])


def undecodable_error(
    fs: fsspec.AbstractFileSystem,
    path: str,
    url: str,
    dataset: str,
    load_args: dict[str, Any],
    error: UnicodeDecodeError,
) -> CSVLayoutError:
    """A file with bytes that are not text in the configured encoding (e.g. a latin-1 'é' in a
    UTF-8 file), as one sentence naming the file, the column and the row of the first bad field."""
    encoding = load_args.get("encoding") or "utf-8"
    column, where = _locate_undecodable(fs, path, encoding, load_args)
    name = "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding
    return CSVLayoutError(dataset, [ValidationFailure(column, (
        f"not {name} text: file {url}, {where} ({error.reason}); export the file again as {name}"
    ))])


def _locate_undecodable(
    fs: fsspec.AbstractFileSystem, path: str, encoding: str, load_args: dict[str, Any]
) -> tuple[str | None, str]:
    """The column and the place (data row, 1-based, or header field) of the first field of
    ``path`` that is not text in ``encoding``: one streaming pass over the bytes."""
    unknown = None, "in a block of the file"
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        return unknown  # fields map to bytes one to one only for an ASCII-compatible UTF-8
    sep = load_args.get("sep", load_args.get("delimiter")) or ","

    def bad(field: str) -> bool:
        try:
            field.encode("latin-1").decode(encoding)
        except UnicodeDecodeError:
            return True
        return False

    with fs.open(path, "rb") as stream:
        # latin-1 maps each byte to one character, so the (ASCII) CSV structure is intact
        rows = csv.reader(io.TextIOWrapper(stream, encoding="latin-1", newline=""), delimiter=sep)
        try:
            header = next(rows, [])
            for i, name in enumerate(header):
                if bad(name):
                    return None, f"header, field {i + 1}"
            for number, row in enumerate(rows, start=1):
                for i, field in enumerate(row):
                    if bad(field):
                        column = header[i] if i < len(header) else None
                        return column, f"data row {number}, field {i + 1}"
        except csv.Error:
            pass
    return unknown


def parser_error(error: pd.errors.ParserError, url: str, dataset: str) -> CSVLayoutError:
    """pandas' parser error on ``url``, as one sentence naming the file, the row and the fix."""
    message = str(error).removeprefix("Error tokenizing data. C error: ").strip().rstrip(".")
    match = _EXPECTED_FIELDS.search(message)
    if match:
        expected, line, saw = match.groups()
        text = (f"file {url}, line {line}: {saw} fields where the header has {expected}; quote "
                "the fields that contain the separator (or fix that row)")
    else:
        text = f"file {url} is not valid CSV ({message}); export it again as CSV"
    return CSVLayoutError(dataset, [ValidationFailure(None, text)])
