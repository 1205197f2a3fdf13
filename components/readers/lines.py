"""Reading the bytes and lines of an input file: local or a URI, plain or gzip, UTF-8 checked."""
import contextlib
import gzip
import zlib
from typing import BinaryIO, Iterator, Optional, Tuple

from components.readers.errors import BadInputError, snippet
from trainer.uris import is_uri

# What reading gzip data raises when the data is not gzip or is cut short.
GZIP_ERRORS = (OSError, EOFError, zlib.error)


def open_binary(path: str) -> BinaryIO:
    """`path` opened for reading bytes (through tf.io.gfile for a URI)."""
    if is_uri(path):
        import tensorflow as tf
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


@contextlib.contextmanager
def open_bytes(path: str, compressed: bool) -> Iterator[BinaryIO]:
    """The bytes of `path`, decompressed when `compressed` (gzip); both files closed after."""
    with open_binary(path) as raw:
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream


def text_lines(path: str, compressed: bool, errors: str = "strict") -> Iterator[str]:
    """The lines of a UTF-8 text file, line endings kept, a leading BOM dropped.

    errors="surrogateescape" keeps bytes that are not UTF-8 as lone surrogates, so a reader
    can set the row aside (see `undecodable`) instead of failing the file."""
    number = 0
    with open_bytes(path, compressed) as stream:
        lines = iter(stream)
        while True:
            try:
                data = next(lines)
            except StopIteration:
                return
            except GZIP_ERRORS as e:
                if not compressed:
                    raise
                raise BadInputError(path, number + 1,
                                    f"cannot decompress the gzip data ({e})") from None
            number += 1
            try:
                line = data.decode("utf-8", errors)
            except UnicodeDecodeError as e:
                raise BadInputError(path, number, not_utf8(data, e)) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line


def not_utf8(data: bytes, e: UnicodeDecodeError) -> str:
    return (f"not UTF-8 text (byte {data[e.start:e.start + 1]!r} at column {e.start + 1}): "
            f"{snippet(data.decode('utf-8', 'replace'))}")


def undecodable(text: str, first_line: int = 1) -> Optional[Tuple[int, str]]:
    """(line number, problem) of the first line of `text` holding bytes that are not UTF-8
    (read with errors="surrogateescape"), or None."""
    for offset, line in enumerate(text.splitlines(keepends=True)):
        data = line.encode("utf-8", "surrogateescape")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            return first_line + offset, not_utf8(data, e)
    return None
