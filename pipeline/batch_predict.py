"""The scoring of `electra-tfx predict` (flags and checks: pipeline/predict.py).

    input files -> the project's readers (components/readers: CSV, JSON Lines, TFRecord, CoNLL,
    gzip) -> tf.train.Examples -> Beam RunInference on the signature
    (components/signature_inference.py) -> each row's columns + the outputs -> one file

Two passes over the input: a first one without the model counts the rows (the progress line's
total) and finds the bad rows, so that `--on-bad-rows fail` stops before anything is scored;
the Beam pipeline then reads the good rows again and scores them. Reading is a small fraction
of scoring's time (docs/benchmarks.md).
"""
import json
import os
import tempfile
import threading
import time
from typing import Dict, Iterator, List, Sequence, Tuple

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from components import bad_rows, prediction_rows
from components import signature_inference
from components.readers.dispatch import read_located_rows
from components.readers.rows import Row
from pipeline import beam_options
from trainer import console

# The in-process DirectRunner: its DoFns run in this process, so they can print progress.
BEAM_ARGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]


class SignatureError(ValueError):
    """The model has no such signature."""


def required_columns(model_dir: str, signature: str, columns: Dict[str, str]) -> List[str]:
    """The columns a row needs: what serving_default parses, or serve_text's inputs' columns."""
    try:
        inputs = signature_inference.signature_inputs(model_dir, signature)
    except ValueError as e:  # no such signature: the message lists the model's
        raise SignatureError(f"--signature {signature}: {e}") from None
    if inputs == [signature_inference.EXAMPLES_INPUT]:
        return signature_inference.parsed_columns(model_dir, signature)
    return [columns.get(name, name) for name in inputs]


def scan(files: Sequence[str], checks: bad_rows.RowChecks) -> Tuple[int, List[bad_rows.BadRow]]:
    """(rows, bad rows) of the input files, read with the pipeline's readers and row checks."""
    rows, bad = 0, []
    for path in files:
        for item in read_located_rows(path, checks):
            rows += 1
            if isinstance(item, bad_rows.BadRow):
                bad.append(item)
    return rows, bad


def good_rows(indexed_file: Tuple[int, str], checks: bad_rows.RowChecks
              ) -> Iterator[Tuple[Tuple[int, int], object]]:
    """((file index, row number), tf.train.Example) of every good row of one file."""
    index, path = indexed_file
    for number, item in enumerate(read_located_rows(path, checks)):
        if isinstance(item, Row):
            yield (index, number), item.example


class _Counter:
    """Rows scored so far, shown as a progress line with the rate and an ETA."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.first = None  # when the first batch was scored (the model is loaded by then)
        self.progress = console.Progress(every=10.0)
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            if self.first is None:
                self.first = time.monotonic()
            elapsed = self.progress.elapsed()
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = console.eta_text(elapsed, self.done, self.total)
            self.progress.update(f"  Scoring: {self.done:,}/{self.total:,} rows, "
                                 f"{rate:,.1f} rows/s{', ' + eta if eta else ''}")


_COUNTERS: Dict[int, _Counter] = {}  # id -> counter (DoFns are pickled; the id is not)


class _Score(beam.DoFn):
    def __init__(self, counter_id: int):
        self._counter_id = counter_id

    def process(self, keyed):
        key, result = keyed
        counter = _COUNTERS.get(self._counter_id)
        if counter is not None:
            counter.add()
        yield key, prediction_rows.scored_row(prediction_rows.example_columns(result.example),
                                              result.inference)


def write_rows(rows: List[Dict], path: str, fmt: str) -> None:
    """The rows to `path`, whole or not at all (written beside, then renamed)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            if fmt == "csv":
                import csv
                columns = prediction_rows.header(rows)
                writer = csv.writer(f)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([prediction_rows.csv_cell(row.get(c)) for c in columns])
            else:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _write_sorted(keyed_rows: List[Tuple[Tuple[int, int], Dict]], path: str, fmt: str) -> int:
    # Sorted by (file, row): the output is in input order whatever order Beam scored in.
    rows = [row for _, row in sorted(keyed_rows, key=lambda kv: kv[0])]
    write_rows(rows, path, fmt)
    return len(rows)


def predict(request) -> Dict[str, float]:
    """Scores `request.files` into `request.output`; returns what it measured."""
    started = time.monotonic()
    model_dir = request.model_dir
    needed = required_columns(model_dir, request.signature, request.columns)
    checks = bad_rows.RowChecks(text_columns=needed, on_bad_rows=request.on_bad_rows)
    total, bad = scan(request.files, checks)
    if bad:
        with open(request.bad_rows_file, "w", encoding="utf-8") as f:
            for row in bad:
                f.write(row.to_json() + "\n")
        if request.on_bad_rows == bad_rows.FAIL:
            raise bad_rows.BadRowsError(
                f"{len(bad):,} of {total:,} rows are bad; nothing was scored "
                "(--on-bad-rows fail):", bad, len(bad), request.bad_rows_file,
                hint="Fix them, or rerun with --on-bad-rows quarantine to score the rest.")
        console.say(f"Set aside {len(bad):,} bad rows of {total:,} (--on-bad-rows quarantine): "
                    f"{request.bad_rows_file}")
    elif os.path.exists(request.bad_rows_file):
        os.remove(request.bad_rows_file)  # a listing from an earlier run of the same output
    good = total - len(bad)
    console.say(f"Scoring {good:,} rows of {len(request.files)} file"
                f"{'s' if len(request.files) != 1 else ''} with {request.signature} of "
                f"{model_dir} (batches of {request.batch_size}) ...")
    handler = signature_inference.SignatureModelHandler(
        model_dir, request.signature, request.columns, request.batch_size)
    counter = _Counter(good)
    loads = len(signature_inference.LOAD_SECONDS)
    _COUNTERS[id(counter)] = counter
    written = []
    beam_options.cache_method_signatures()
    beam_options.cache_option_views()
    try:
        with beam.Pipeline(options=PipelineOptions(BEAM_ARGS)) as p:
            _ = (p
                 | "Files" >> beam.Create(list(enumerate(request.files)))
                 | "Read" >> beam.FlatMap(good_rows, checks)
                 | "RunInference" >> RunInference(KeyedModelHandler(handler))
                 | "Rows" >> beam.ParDo(_Score(id(counter)))
                 | "All" >> beam.combiners.ToList()
                 | "Write" >> beam.Map(lambda rows: written.append(
                     _write_sorted(rows, request.output, request.output_format))))
    finally:
        _COUNTERS.pop(id(counter), None)
    seconds = time.monotonic() - started
    load = sum(signature_inference.LOAD_SECONDS[loads:])
    scoring = max(1e-9, time.monotonic() - counter.progress.started - load)
    rate = good / scoring
    console.say(f"Scored {good:,} rows in {console.seconds_text(scoring)}, {rate:,.1f} rows/s "
                f"(loading the model {console.seconds_text(load)}, "
                f"{console.seconds_text(seconds)} in all): {request.output}")
    return {"rows": good, "bad_rows": len(bad), "seconds": seconds, "scoring_seconds": scoring,
            "load_seconds": load, "rows_per_second": rate}
