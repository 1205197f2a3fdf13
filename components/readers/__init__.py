"""The input file readers: one module per format, and the pieces they share.

    errors.py    BadInputError ("FILE line N: PROBLEM") and message snippets
    lines.py     bytes and UTF-8 lines of a local or remote, plain or gzip file
    sniff.py     a text-format file that holds binary data is refused up front
    rows.py      Row (an example with its place), the strict view, record numbering
    csv.py  jsonl.py  tfrecord.py  conll.py  squad.py    one format each
    dispatch.py  read_file / read_rows / read_located_rows: the reader a file's extension names

Which extension is which format: components/input_files.py. The Beam component around them:
components/text_example_gen.py.
"""
from components.readers.conll import read_conll
from components.readers.csv import read_csv
from components.readers.dispatch import read_file, read_located_rows, read_rows
from components.readers.errors import BadInputError
from components.readers.jsonl import read_jsonl
from components.readers.rows import Row
from components.readers.squad import is_squad_file, read_squad, set_nested_feature
from components.readers.tfrecord import read_tfrecord

__all__ = [
    "BadInputError", "Row", "is_squad_file", "read_conll", "read_csv", "read_file",
    "read_jsonl", "read_located_rows", "read_rows", "read_squad", "read_tfrecord",
    "set_nested_feature",
]
