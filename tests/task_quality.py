"""Fine-tunes a task's Keras model in process on a small fixture (shared by the task tests).

Uses the task's own encoding, model, loss, metrics and the project's optimizer, and returns the
held-out loss before and after training and the task's Keras metrics after training.
"""
import numpy as np
import tensorflow as tf

from trainer import model as model_lib
from trainer import optimization
from trainer import tokenization


class FakeTransformOutput:
    def __init__(self, num_labels):
        self.num_labels = num_labels

    def vocabulary_size_by_name(self, name):
        return self.num_labels


def features(task, context, columns):
    cfg = context.config
    encoder = tokenization.WordPieceEncoder(
        tokenization.load_vocab(f"{context.checkpoint_dir}/vocab.txt"), context.lower_case)
    encoded = task.encode(encoder, {k: tf.constant(v) for k, v in columns.items()}, cfg)
    return {k: tf.cast(encoded[k].to_tensor(0), tf.int32) for k in
            ("input_ids", "attention_mask", "token_type_ids")}


def targets(label_ids=None, values=None, multi=None, num_labels=None):
    """The text-classification variants' training targets, as their split_features make them:
    label ids (int64), values (float32) or the multi-hot vectors of `multi` (lists of label
    ids) over `num_labels` labels."""
    from trainer.tasks import text_classification as tc
    if label_ids is not None:
        return tf.constant(label_ids, tf.int64)
    if values is not None:
        return tf.constant(values, tf.float32)
    width = max((len(m) for m in multi), default=0)
    ids = tf.constant([list(m) + [-1] * (width - len(m)) for m in multi], tf.int64,
                      shape=[len(multi), width])
    return tc.multi_hot(ids, num_labels)


def fit(task, context, train_columns, train_targets, eval_columns, eval_targets, num_labels,
        epochs=3, batch_size=16, learning_rate=5e-5):
    tf.keras.utils.set_random_seed(0)
    model = task.build_model(context, FakeTransformOutput(num_labels))
    x_train = features(task, context, train_columns)
    x_eval = features(task, context, eval_columns)
    n = int(x_train["input_ids"].shape[0])
    steps = epochs * int(np.ceil(n / batch_size))
    optimizer = optimization.create_optimizer(
        learning_rate=learning_rate, num_train_steps=steps, warmup_ratio=0.1, weight_decay=0.01,
        layer_decay=0.8, num_layers=model_lib.num_hidden_layers(context.checkpoint_dir),
        clip_norm=1.0)
    model.compile(optimizer=optimizer, loss=task.loss(), metrics=task.metrics())
    model_lib.trace_without_autograph(model)  # as the Trainer's steps (trainer/training.py)
    before = model.evaluate(x_eval, eval_targets, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(x_train, train_targets, epochs=epochs, batch_size=batch_size,
                        shuffle=True, verbose=0)
    after = model.evaluate(x_eval, eval_targets, batch_size=64, verbose=0, return_dict=True)
    return model, before, after, history.history, x_eval


def analyze(task, context, raw_rows, raw_spec, out_dir):
    """Runs the task's preprocessing through tf.Transform (Beam, in memory) on `raw_rows`;
    returns the TFTransformOutput (label vocabulary included)."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    tft_dir = f"{out_dir}/transform"
    with beam.Pipeline() as pipeline:
        with tft_beam.Context(temp_dir=f"{out_dir}/tmp", force_tf_compat_v1=False):
            data = pipeline | beam.Create(raw_rows)
            transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(
                lambda inputs: task.preprocess(inputs, context))
            _ = transform_fn | tft_beam.WriteTransformFn(tft_dir)
    # TFX's Transform component also stores the raw metadata (raw_feature_spec reads it).
    from tensorflow_transform.tf_metadata import metadata_io
    metadata_io.write_metadata(metadata, f"{tft_dir}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return tft.TFTransformOutput(tft_dir)


def label_vocabulary(transform_output):
    return [v.decode() for v in transform_output.vocabulary_by_name("label")]


def export_serving_model(task, context, model, transform_output, out_dir):
    """Exports `model` with the task's signatures, as the Trainer does; returns the directory."""
    saved = f"{out_dir}/model"
    signatures = task.serving_signatures(model, transform_output, context)
    model.save(saved, save_format="tf", signatures=signatures, save_traces=False)
    return saved


def serve(saved_model_dir, signature, inputs):
    """Calls a signature in a fresh process that imports only TensorFlow and TF Text."""
    import json
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        model = tf.saved_model.load(sys.argv[1])
        inputs = {k: tf.constant(v) for k, v in json.loads(sys.argv[3]).items()}
        out = model.signatures[sys.argv[2]](**inputs)
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline")
                       for m in sys.modules)
        print(json.dumps({k: (v.numpy().astype(str).tolist() if v.dtype == tf.string
                              else v.numpy().tolist()) for k, v in out.items()}))
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(saved_model_dir), signature,
                           json.dumps(inputs)], capture_output=True, text=True, timeout=600,
                          env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
