"""`--predict PATH`: TFX's BulkInferrer scores PATH's rows with the candidate once the gate
blessed it, and a readable copy lands in `OUTPUT/predictions/`.

    TextExampleGen over PATH (id PredictExampleGen, one split "predict")
      → BulkInferrer (model + the gate's model_blessing; serving_default)
      → PredictionsExport: OUTPUT/predictions/prediction_logs-*.gz (the PredictionLogs, as
        BulkInferrer wrote them) and predictions.jsonl (each row's columns and its outputs)

Every task's `serving_default` takes one string input, serialized tf.Examples with the raw
columns, and returns outputs whose first dimension is the batch: what tfx_bsl's RunInference
needs of a Predict signature (one string input; trainer/tasks/*.py `serving_signatures`). An
unblessed candidate is not scored: BulkInferrer writes no PredictionLogs, and the export
writes nothing.

TF Text's ops: the graph of serving_default tokenizes with them, and TensorFlow only knows an
op once its library is loaded (tensorflow/tfx#3901, "Op type not registered" in BulkInferrer).
The executor here is TFX's own, in a module that imports tensorflow_text, so the process that
runs it (LocalDagRunner, a Kubeflow container) has the ops; tfx_bsl's model handler also
imports tensorflow_text in each Beam worker before it loads the model.
"""
import dataclasses
import json
import os
from typing import List, Optional

import tensorflow as tf
import tensorflow_text  # noqa: F401  (serving_default's TF Text ops, wherever this runs)
from tfx import v1 as tfx
from tfx.components.bulk_inferrer import executor as bulk_inferrer_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import prediction_rows, signature_inference
from components.bad_rows import RowChecks
from components.input_files import resolve_files, unlisted_inputs
from components.text_example_gen import TextExampleGen
from trainer.features import BULK_INFERENCE_SIGNATURE
from trainer.uris import is_uri

SPLIT = "predict"
LOGS_PREFIX = "prediction_logs"
JSONL_FILE = "predictions.jsonl"


class Executor(bulk_inferrer_executor.Executor):
    """TFX's BulkInferrer executor, from a module that registers TF Text's ops."""


class ElectraBulkInferrer(tfx.components.BulkInferrer):
    """TFX's BulkInferrer (same inputs, outputs and parameters) with the executor above."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


@tfx.dsl.components.component
def PredictionsExport(
    inference_result: tfx.dsl.components.InputArtifact[
        tfx.types.standard_artifacts.InferenceResult],
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    output_dir: tfx.dsl.components.Parameter[str],
) -> tfx.dsl.components.OutputDict(rows=int):
    """Copies BulkInferrer's PredictionLogs to `output_dir` and writes predictions.jsonl."""
    from tfx.utils import path_utils
    return {"rows": export_predictions(inference_result.uri, output_dir,
                                       scalar_outputs(path_utils.serving_model_path(model.uri)))}


def scalar_outputs(model_dir: str) -> List[str]:
    """The outputs of serving_default with one value per row ([batch]): the bulk inference
    signature gives its string ones a trailing axis, which the readable copy drops again."""
    signature = signature_inference.meta_graph(model_dir).signature_def["serving_default"]
    return sorted(name for name, info in signature.outputs.items()
                  if len(info.tensor_shape.dim) == 1)


def export_predictions(inference_uri: str, output_dir: str, scalars: List[str] = ()) -> int:
    """The PredictionLog files of `inference_uri` copied to `output_dir` (the previous ones
    replaced), and a JSON Lines file of the rows and their outputs; returns the rows."""
    from tensorflow_serving.apis import prediction_log_pb2
    logs = sorted(tf.io.gfile.glob(os.path.join(inference_uri, "*.gz")))
    if not logs:
        return 0  # nothing scored (not blessed): the last predictions stay as they were
    tf.io.gfile.makedirs(output_dir)
    for old in tf.io.gfile.glob(os.path.join(output_dir, LOGS_PREFIX + "*")):
        tf.io.gfile.remove(old)
    rows = 0
    temp = os.path.join(output_dir, f".tmp-{JSONL_FILE}")
    with tf.io.gfile.GFile(temp, "w") as out:
        for i, path in enumerate(logs):
            tf.io.gfile.copy(path, os.path.join(output_dir, f"{LOGS_PREFIX}-{i:05d}.gz"),
                             overwrite=True)
            for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
                for row in log_rows(log, scalars):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    rows += 1
    tf.io.gfile.rename(temp, os.path.join(output_dir, JSONL_FILE), overwrite=True)
    return rows


def log_rows(log, scalars=()) -> List[dict]:
    """The scored rows of one PredictLog: each request example's columns and its outputs
    (`scalars`: outputs of one value per row, written as that value)."""
    predict = log.predict_log
    (examples,) = [tf.make_ndarray(t) for t in predict.request.inputs.values()]
    outputs = {name: tf.make_ndarray(t) for name, t in predict.response.outputs.items()}
    rows = []
    for i, serialized in enumerate(examples.reshape(-1)):
        example = tf.train.Example.FromString(serialized)
        values = {n: v[i] for n, v in outputs.items()}
        values = {n: (v.reshape(-1)[0] if n in scalars and v.size == 1 else v)
                  for n, v in values.items()}
        rows.append(prediction_rows.scored_row(prediction_rows.example_columns(example), values))
    return rows


def create(predict_path: Optional[str], output_dir: str, model, model_blessing,
           row_checks: Optional[RowChecks], text_columns: List[str],
           list_inputs: bool = True) -> list:
    """The nodes of --predict (none without a path): its ExampleGen, BulkInferrer, export."""
    if not predict_path:
        return []
    inputs = unlisted_inputs(predict_path)  # the path's base and pattern, as --train's
    if list_inputs and not is_uri(predict_path):
        resolve_files(predict_path, "--predict")  # refuses a path that names no input file
    (split,) = inputs.input_config.splits
    checks = None
    if row_checks is not None:
        # The rows need the text the model reads; labels are not needed (nor checked).
        checks = dataclasses.replace(
            row_checks, text_columns=list(text_columns), label_column=None, label_kind=None,
            known_labels=None, allowed_labels=None, label_separator=None,
            quarantine_dir=(os.path.join(row_checks.quarantine_dir, SPLIT)
                            if row_checks.quarantine_dir else None))
    example_gen = TextExampleGen(
        input_base=inputs.input_base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=SPLIT, pattern=split.pattern)]),
        # One output split holding every row (one split in and no output config would be
        # hash-split into train and eval).
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name=SPLIT, hash_buckets=1)])),
        row_checks=checks,
    ).with_id("PredictExampleGen")
    inferrer = ElectraBulkInferrer(
        examples=example_gen.outputs["examples"], model=model, model_blessing=model_blessing,
        data_spec=tfx.proto.DataSpec(example_splits=[SPLIT]),
        model_spec=tfx.proto.ModelSpec(model_signature_name=[BULK_INFERENCE_SIGNATURE]),
    ).with_id("BulkInferrer")
    export = PredictionsExport(
        inference_result=inferrer.outputs["inference_result"], model=model,
        output_dir=os.path.join(output_dir, "predictions"),
    ).with_id("PredictionsExport")
    return [example_gen, inferrer, export]
