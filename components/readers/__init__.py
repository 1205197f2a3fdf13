"""The input file readers: one module per format, and the pieces they share.

    errors.py    BadInputError ("FILE line N: PROBLEM") and message snippets
    lines.py     bytes and UTF-8 lines of a local or remote, plain or gzip file
    sniff.py     a text-format file that holds binary data is refused up front
    head.py      a file's head without TensorFlow: its header or first records, the columns
                 checked before the pipeline starts (pipeline/precheck.py)
    rows.py      Row (an example with its place), the strict view, record numbering
    csv.py  jsonl.py  tfrecord.py  conll.py  squad.py    one format each
    dispatch.py  read_file / read_rows / read_located_rows: the reader a file's extension names

Which extension is which format: components/input_files.py. The Beam component around them:
components/text_example_gen.py.

The names below are imported on first use: errors, lines, sniff and head load no TensorFlow,
so the CLI can check a file before TensorFlow loads.
"""
import importlib

_EXPORTS = {
    "BadInputError": "errors", "Row": "rows", "is_squad_file": "squad", "read_conll": "conll",
    "read_csv": "csv", "read_file": "dispatch", "read_jsonl": "jsonl",
    "read_located_rows": "dispatch", "read_rows": "dispatch", "read_squad": "squad",
    "read_tfrecord": "tfrecord", "set_nested_feature": "squad",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
