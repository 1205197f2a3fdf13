"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in every pushed model.

TF Serving replays the PredictionLogs of that file (a TFRecord of
`tensorflow_serving.apis.prediction_log_pb2.PredictionLog`) when it loads a version, before
the version serves: the tables, the TF Text ops and the graph's first runs are initialised by
these requests rather than by the first live one
(https://www.tensorflow.org/tfx/serving/saved_model_warmup).

The requests are real eval examples (the ExampleGen's `Split-eval`), written by the Pusher
(components/atomic_pusher.py) into its copy of the model before it is published:
  `serving_default`  the serialized tf.Examples, input `examples`;
  `serve_text`       their raw text: each input (e.g. `text`) from the example's column that
                     feeds it (the task's serving_text_inputs; several values joined by a
                     space, as the whitespace-split token columns of token classification).
Each signature gets a request of one example and one of up to WARMUP_EXAMPLES (two batch sizes).
The Pusher replays them against the model before it writes them (check_replay): TF Serving
refuses to load a version whose warm-up request fails.
"""
import os
from typing import Dict, List, Mapping, Optional, Sequence

import tensorflow as tf

from components import loaded_models

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_EXAMPLES = 4
EXAMPLES_SIGNATURE = "serving_default"
TEXT_SIGNATURE = "serve_text"


def eval_records(examples_uri: str, limit: int = WARMUP_EXAMPLES) -> List[bytes]:
    """The first `limit` serialized examples of the Examples artifact's eval split."""
    records: List[bytes] = []
    for path in sorted(tf.io.gfile.glob(os.path.join(examples_uri, "Split-eval", "*"))):
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression).take(limit):
            records.append(record.numpy())
            if len(records) == limit:
                return records
    return records


def _signatures(model_dir: str):
    from tensorflow.core.protobuf import saved_model_pb2
    with tf.io.gfile.GFile(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph.signature_def
    return {}


def _text(feature) -> Optional[bytes]:
    if feature.bytes_list.value:
        return b" ".join(feature.bytes_list.value)
    values = feature.int64_list.value or feature.float_list.value
    return " ".join(str(v) for v in values).encode() if values else None


def _request(signature: str, inputs: Mapping[str, Sequence[bytes]]):
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(list(values), dtype=tf.string))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))


def warmup_logs(model_dir: str, records: Sequence[bytes],
                text_inputs: Optional[Mapping[str, str]] = None) -> list:
    """PredictionLogs for the model's `serving_default` and `serve_text` signatures from the
    serialized tf.Examples `records`; `text_inputs`: serve_text input -> example column (an
    input absent from it is read from the column of its own name). A signature whose inputs
    are not all strings found in the examples gets no request."""
    signatures = _signatures(model_dir)
    batches = [list(records[:1]), list(records[:WARMUP_EXAMPLES])] if records else []
    if len(records) == 1:
        batches = batches[:1]
    logs = []
    default = signatures.get(EXAMPLES_SIGNATURE)
    if default is not None and len(default.inputs) == 1:
        (name, spec), = default.inputs.items()
        if spec.dtype == tf.string.as_datatype_enum:
            logs += [_request(EXAMPLES_SIGNATURE, {name: batch}) for batch in batches]
    text = signatures.get(TEXT_SIGNATURE)
    if text is not None and all(s.dtype == tf.string.as_datatype_enum
                                for s in text.inputs.values()):
        columns = {name: (text_inputs or {}).get(name, name) for name in text.inputs}
        for batch in batches:
            inputs: Dict[str, List[bytes]] = {name: [] for name in columns}
            for record in batch:
                features = tf.train.Example.FromString(record).features.feature
                for name, column in columns.items():
                    value = _text(features[column]) if column in features else None
                    if value is None:
                        return logs  # a column the examples do not have: no text requests
                    inputs[name].append(value)
            logs.append(_request(TEXT_SIGNATURE, inputs))
    return logs


class WarmupFailed(Exception):
    """A warm-up request the model cannot run (TF Serving would refuse to load the version)."""


def _error_text(error: Exception) -> str:
    """The telling line of an error (TensorFlow's start with "Graph execution error:")."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    telling = [line for line in lines if line and not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[["))]
    return f"{type(error).__name__}: {(telling or lines or [''])[0][:300]}"


def check_replay(model_dir: str, logs: Sequence) -> None:
    """Replays `logs` against the SavedModel as `replay` does; raises WarmupFailed naming the
    signature and the error when one fails."""
    if not logs:
        return
    model = loaded_models.load(model_dir)
    for log in logs:
        try:
            _call(model, log)
        except Exception as error:  # noqa: BLE001 — any failure of the model on a request
            raise WarmupFailed(
                f"the model failed on a warm-up request (real eval examples) to "
                f"{log.predict_log.request.model_spec.signature_name}: {_error_text(error)}; "
                f"TF Serving would refuse to load it") from error


def write_warmup(model_dir: str, logs: Sequence) -> Optional[str]:
    """Writes `logs` to `<model_dir>/assets.extra/tf_serving_warmup_requests`; None if empty."""
    if not logs:
        return None
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup(model_dir: str) -> list:
    """The PredictionLogs of a model's warm-up file."""
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(model_dir, WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(path)]


def replay(model_dir: str, logs: Sequence) -> List[Dict[str, "tf.Tensor"]]:
    """Calls the loaded SavedModel's signature with each request's inputs, as TF Serving does
    at load time; returns the outputs (raises on a request the model cannot run)."""
    model = loaded_models.load(model_dir)
    return [_call(model, log) for log in logs]


def _call(model, log) -> Dict[str, "tf.Tensor"]:
    request = log.predict_log.request
    signature = model.signatures[request.model_spec.signature_name or EXAMPLES_SIGNATURE]
    return signature(**{name: tf.constant(tf.make_ndarray(tensor))
                        for name, tensor in request.inputs.items()})
