"""URIs versus local paths, one rule for the whole code base (TensorFlow-free).

A URI starts with a scheme (`gs://bucket/x`, `s3://...`, `hdfs://...`): read it through
`tf.io.gfile`; anything else is a local path (Python's `open`, `os.path`).
"""
import re
from typing import Tuple

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """True for `scheme://...` (gs://, s3://, ...), False for a local path."""
    return bool(_SCHEME.match(path or ""))


def split_scheme(path: str) -> Tuple[str, str]:
    """("gs://", "bucket/x") for a URI, ("", path) for a local path."""
    match = _SCHEME.match(path)
    return (match.group(0), path[match.end():]) if match else ("", path)
