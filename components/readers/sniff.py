"""Refusing a text-format file that holds binary data (a misnamed file) before reading it."""
import posixpath

from components.readers.errors import BadInputError
from components.readers.lines import GZIP_ERRORS, open_bytes

# Bytes that do not occur in text: NUL and the C0 controls other than \t \n \v \f \r, and DEL.
_CONTROL_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x20)) | {0x7F}
_SNIFF_BYTES = 8192


def check_text_file(path: str, compressed: bool) -> None:
    """Raises BadInputError when a text-format file holds binary data (a misnamed file)."""
    with open_bytes(path, compressed) as stream:
        try:
            head = stream.read(_SNIFF_BYTES)
        except GZIP_ERRORS as e:
            raise BadInputError(path, None, f"cannot decompress the gzip data ({e})") from None
    if not head:
        return
    name = posixpath.basename(path)
    if head.startswith(b"\x1f\x8b"):
        raise BadInputError(path, None, f"holds gzip-compressed data; name it {name}.gz")
    if head.startswith(b"PK\x03\x04"):
        raise BadInputError(path, None, "is a ZIP archive (an Excel workbook?), not text; "
                            "export it as CSV")
    control = sum(b in _CONTROL_BYTES for b in head)
    replaced = head.decode("utf-8", "replace").count("\ufffd")
    if control > 0.05 * len(head) or replaced > 0.1 * len(head):
        raise BadInputError(
            path, None, f"does not look like text: {control + replaced} of its first "
            f"{len(head):,} bytes are control bytes or not UTF-8 (binary data?)")
