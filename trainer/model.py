"""Builds Keras models around HuggingFace TFElectra discriminators."""
import contextlib
from typing import Dict, Iterator, List

import tensorflow as tf
import tf_keras

from trainer.checkpoints.files import CheckpointInfo
from trainer.features import SEQUENCE_FEATURES


def num_hidden_layers(checkpoint_dir: str) -> int:
    return int(CheckpointInfo.read(checkpoint_dir).num_hidden_layers)


def hidden_size(checkpoint_dir: str) -> int:
    return int(CheckpointInfo.read(checkpoint_dir).hidden_size)


def sequence_inputs() -> Dict[str, tf_keras.Input]:
    """Dense int32 [batch, length] inputs; length varies per batch (dynamic padding)."""
    return {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
            for name in SEQUENCE_FEATURES}


# Plain Python, not AutoGraph: building the functional model traces every HF layer once, and
# AutoGraph's source rewriting of those layers made this 4-6x slower (docs/benchmarks.md).
@tf.autograph.experimental.do_not_convert
def _apply(electra, inputs: Dict[str, tf_keras.Input]):
    """Calls a HuggingFace TFElectra* model on the shared sequence inputs."""
    return electra(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                   token_type_ids=inputs["token_type_ids"])


def build_sequence_classifier(checkpoint_dir: str, num_labels: int,
                              problem_type: str = "single_label_classification") -> tf_keras.Model:
    """ELECTRA discriminator + HuggingFace's classification head, returning logits."""
    # Imported here so modules that only serve or preprocess do not pay for transformers.
    from transformers import TFElectraForSequenceClassification

    electra = TFElectraForSequenceClassification.from_pretrained(
        checkpoint_dir, num_labels=num_labels, problem_type=problem_type,
        # A PyTorch model.safetensors beside tf_model.h5 cannot load without torch. Only the
        # resolved local directory is read (never the hub), and no code in it is run: the
        # concrete ELECTRA classes ignore a config's auto_map (see README, "Supply chain").
        use_safetensors=False, local_files_only=True)
    inputs = sequence_inputs()
    logits = _apply(electra, inputs).logits
    model = tf_keras.Model(inputs=inputs, outputs=logits, name="electra_classifier")
    return attach_encoder(model, electra.electra)


def build_encoder(checkpoint_dir: str) -> tf_keras.Model:
    """The checkpoint's ELECTRA encoder alone, returning the last hidden states [B, T, H]."""
    from transformers import TFElectraModel

    electra = TFElectraModel.from_pretrained(checkpoint_dir, use_safetensors=False,
                                             local_files_only=True)
    inputs = sequence_inputs()
    hidden = _apply(electra, inputs).last_hidden_state
    model = tf_keras.Model(inputs=inputs, outputs=hidden, name="electra_encoder")
    return attach_encoder(model, electra.electra)


def build_token_classifier(checkpoint_dir: str, num_labels: int) -> tf_keras.Model:
    """ELECTRA discriminator + HuggingFace's token-classification head: logits [B, T, labels]."""
    from transformers import TFElectraForTokenClassification

    electra = TFElectraForTokenClassification.from_pretrained(
        checkpoint_dir, num_labels=num_labels, use_safetensors=False, local_files_only=True)
    inputs = sequence_inputs()
    logits = _apply(electra, inputs).logits
    model = tf_keras.Model(inputs=inputs, outputs=logits, name="electra_token_classifier")
    return attach_encoder(model, electra.electra)


def build_span_extractor(checkpoint_dir: str) -> tf_keras.Model:
    """ELECTRA discriminator + HuggingFace's QA head: start/end logits stacked as [B, T, 2].

    Padding positions get a logit of -10000 so they take no probability mass.
    """
    from transformers import TFElectraForQuestionAnswering

    electra = TFElectraForQuestionAnswering.from_pretrained(
        checkpoint_dir, use_safetensors=False, local_files_only=True)
    inputs = sequence_inputs()
    out = _apply(electra, inputs)
    logits = tf.stack([out.start_logits, out.end_logits], axis=-1)
    pad = (1.0 - tf.cast(inputs["attention_mask"], logits.dtype)) * -10000.0
    logits = logits + pad[:, :, None]
    model = tf_keras.Model(inputs=inputs, outputs=logits, name="electra_span_extractor")
    return attach_encoder(model, electra.electra)


# The attribute under which a task model keeps its ELECTRA encoder (TFElectraMainLayer).
ENCODER_ATTRIBUTE = "electra_encoder"
# forward_on_ids' key for the encoder's last hidden states.
LAST_HIDDEN_STATE = "last_hidden_state"


def attach_encoder(model: tf_keras.Model, main_layer) -> tf_keras.Model:
    """Records the encoder (a HF ``TFElectraMainLayer``, e.g. ``electra.electra``) on the model,
    so that shared code (trainer/embedding.py) can run it on its own; returns the model."""
    setattr(model, ENCODER_ATTRIBUTE, main_layer)
    return model


def encoder_of(model: tf_keras.Model):
    """The encoder recorded by `attach_encoder`."""
    encoder = getattr(model, ENCODER_ATTRIBUTE, None)
    if encoder is None:
        raise ValueError(f"model {model.name!r} has no encoder attached (model.attach_encoder)")
    return encoder


def serving_function(input_signature):
    """`tf.function` for a serving signature, traced as plain Python (no AutoGraph).

    AutoGraph would parse and rewrite the source of every function the signature reaches (the
    tokenizer, the Transform layer, HuggingFace's layers) at export; nothing there branches in
    Python on tensor values, so the graph is the same without it, and exporting is faster
    (docs/benchmarks.md). The contract test (tests/test_task_contract.py) reloads every
    exported signature and calls it."""
    return tf.function(input_signature=input_signature, autograph=False)


@contextlib.contextmanager
def _recording_outputs(layer) -> Iterator[List[tf.Tensor]]:
    """Records the first output of every call of `layer` (a HF main layer: its last hidden
    state) while inside. Keras layers run `self.call` (tf_keras base_layer.__call__), so an
    instance attribute shadows the method for that time; whatever was there before is put back.
    No hook in Keras or HuggingFace hands out an inner layer's output from a functional model's
    call, so this is done by hand."""
    seen: List[tf.Tensor] = []
    if not isinstance(layer, tf_keras.layers.Layer):  # none, or a stand-in the model never calls
        yield seen
        return
    before = layer.__dict__.get("call")
    original = layer.call

    def call(*args, **kwargs):
        outputs = original(*args, **kwargs)
        seen.append(outputs[0])
        return outputs

    object.__setattr__(layer, "call", call)
    try:
        yield seen
    finally:
        if before is None:
            object.__delattr__(layer, "call")
        else:
            object.__setattr__(layer, "call", before)


def attach_id_call(model: tf_keras.Model) -> tf_keras.Model:
    """Adds `model.call_on_ids`: the whole model on dense int32 token-id inputs, traced once
    here into one concrete function that the SavedModel keeps. The export skips Keras'
    per-layer traces (save_traces=False), so without it a loaded model could only be called
    through its text/example signatures; this lets users and tests run raw windows.

    The same trace also yields the encoder's last hidden state (`forward_on_ids`, for
    trainer/embedding.py's `serve_embedding`): a second call of the encoder would trace every
    HuggingFace layer again and store the encoder's graph twice in the SavedModel.

    Concrete functions, not `tf.function`s: saving retraces a `tf.function` attribute (the
    save context is part of its cache key), which traced the whole model a second time in
    every export and stored it twice in the SavedModel."""
    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in SEQUENCE_FEATURES}
    encoder = getattr(model, ENCODER_ATTRIBUTE, None)

    def forward(features):
        with _recording_outputs(encoder) as hidden:
            outputs = model(features, training=False)
        both = {"outputs": outputs}
        if hidden:
            both[LAST_HIDDEN_STATE] = hidden[-1]
        return both

    model.forward_on_ids = tf.function(forward, input_signature=[spec],
                                       autograph=False).get_concrete_function()
    model.call_on_ids = tf.function(lambda features: model.forward_on_ids(features)["outputs"],
                                    input_signature=[spec],
                                    autograph=False).get_concrete_function()
    return model


def call_on_ids(model: tf_keras.Model):
    """`model.call_on_ids` (attached on first use). Every serving signature calls the model
    through it, so an export traces the model once, not once per signature: tracing a
    HuggingFace model is most of an export's time."""
    if getattr(model, "call_on_ids", None) is None:
        attach_id_call(model)
    return model.call_on_ids


def forward_on_ids(model: tf_keras.Model):
    """`model.forward_on_ids` (attached on first use): the concrete function behind
    `call_on_ids`, returning {"outputs": the model's outputs, LAST_HIDDEN_STATE: the encoder's
    [batch, length, hidden] states} (the latter only when the model runs an attached Keras
    encoder; the TF-IDF baseline's stand-in encoder is not part of its forward pass)."""
    if getattr(model, "forward_on_ids", None) is None:
        attach_id_call(model)
    return model.forward_on_ids


def trace_without_autograph(model: tf_keras.Model) -> tf_keras.Model:
    """Makes Keras trace the model's train/test/predict steps as plain Python.

    By default Keras traces them through AutoGraph, which parses and rewrites the source of
    every Python function they reach: HuggingFace's layers and the optimizer's per-variable
    update loop. That rewriting was half the time to the first training step (bench notes in
    docs/benchmarks.md). Nothing on these paths branches in Python on tensor values, so the
    traced graph is the same without it (tests/test_model.py checks identical losses).
    """
    for step in ("train_step", "test_step", "predict_step"):
        setattr(model, step, tf.autograph.experimental.do_not_convert(getattr(model, step)))
    return model


def dense_sequence_features(transformed: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Transform's variable-length id features as dense int32, padded with 0 to the batch max."""
    dense = {}
    for name in SEQUENCE_FEATURES:
        value = transformed[name]
        if isinstance(value, tf.SparseTensor):
            value = tf.sparse.to_dense(value, default_value=0)
        elif isinstance(value, tf.RaggedTensor):
            value = value.to_tensor(default_value=0)
        dense[name] = tf.cast(value, tf.int32)
    return dense
