"""Reading OCPI objects from a file, streamed: a JSON list, one JSON object, or JSON Lines.

Each record comes with its 1-based position (list item or line number) so a rejected one can be
named. A JSON list is decoded item by item from a bounded buffer, never loaded whole.
"""

import itertools
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from .ocpi import JSON_DECODER, OCPIValidationError, check_document, parse_json

CHUNK = 1 << 20
MAX_RECORD_CHARS = 16 << 20
_NON_WHITESPACE = re.compile(r"\S")


@dataclass(frozen=True)
class Record:
    index: int
    where: str  # "line 3" or "item 3": how a person finds it in the file
    payload: Any = None
    error: str = ""
    # The file cannot be read past this record (a broken JSON list).
    fatal: bool = False


class _ListReader:
    def __init__(self, fp: TextIO, buffer: str):
        self.fp = fp
        self.buffer = buffer
        self.pos = 0
        self.eof = False

    def _more(self) -> bool:
        if self.eof or len(self.buffer) - self.pos > MAX_RECORD_CHARS:
            return False
        chunk = self.fp.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def _next_char(self) -> str:
        """The next non-whitespace character (not consumed), or "" at the end of the file."""
        while True:
            match = _NON_WHITESPACE.search(self.buffer, self.pos)
            if match:
                self.pos = match.start()
                return self.buffer[self.pos]
            self.pos = len(self.buffer)
            if not self._more():
                return ""

    def _decode(self) -> tuple[Any, int]:
        while True:
            try:
                value, end = JSON_DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise
            # A number may go on in the next chunk; objects, lists and strings end themselves.
            if (
                end == len(self.buffer)
                and not isinstance(value, dict | list | str)
                and self._more()
            ):
                continue
            return value, end

    def records(self) -> Iterator[Record]:
        self._next_char()
        self.pos += 1  # the opening "["
        if self._next_char() == "]":
            return
        index = 0
        while True:
            index += 1
            where = f"item {index}"
            if not self._next_char():
                yield Record(index, where, error="The JSON list ends early.", fatal=True)
                return
            try:
                value, self.pos = self._decode()
            except (json.JSONDecodeError, RecursionError, ValueError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield Record(index, where, error=f"Not valid JSON: {reason}", fatal=True)
                return
            try:
                check_document(value)
            except OCPIValidationError as exc:
                yield Record(index, where, error=str(exc))
            else:
                yield Record(index, where, payload=value)
            separator = self._next_char()
            if separator == ",":
                self.pos += 1
            elif separator == "]":
                return
            else:
                yield Record(
                    index + 1, f"item {index + 1}", error="Expected “,” or “]”.", fatal=True
                )
                return


def _line_record(number: int, line: str) -> Record:
    try:
        return Record(number, f"line {number}", payload=parse_json(line))
    except OCPIValidationError as exc:
        return Record(number, f"line {number}", error=str(exc))


def read_records(fp: TextIO) -> Iterator[Record]:
    """Records of a text file: a JSON list, a single JSON object, or one JSON value per line."""
    skipped_lines = 0
    first = ""
    while True:
        char = fp.read(1)
        if not char or not char.isspace():
            first = char
            break
        skipped_lines += char == "\n"
    if not first:
        return
    if first == "[":
        yield from _ListReader(fp, first).records()
        return
    first_line = first + fp.readline()
    number = skipped_lines + 1
    record = _line_record(number, first_line)
    peeked = []
    if record.error and first == "{":
        while (line := fp.readline()) and not line.strip():
            peeked.append(line)
        peeked.append(line)
        if line and not line.lstrip().startswith("{"):
            # Not one object per line but one object over several lines.
            try:
                yield Record(
                    1, "item 1", payload=parse_json(first_line + "".join(peeked) + fp.read())
                )
            except OCPIValidationError as exc:
                yield Record(1, "item 1", error=str(exc))
            return
    yield record
    for line in itertools.chain(peeked, fp):
        number += 1
        if line.strip():
            yield _line_record(number, line)


def open_text(path: str) -> TextIO:
    """The file as UTF-8 text (a byte order mark is dropped); `-` is standard input."""
    if path == "-":
        return open(sys.stdin.fileno(), encoding="utf-8-sig", closefd=False)
    return open(path, encoding="utf-8-sig")
