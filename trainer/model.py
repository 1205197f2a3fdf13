"""Builds Keras models around HuggingFace TFElectra discriminators."""
import json
import os
from typing import Dict

import tensorflow as tf
import tf_keras

from trainer.tasks.base import SEQUENCE_FEATURES


def num_hidden_layers(checkpoint_dir: str) -> int:
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        return int(json.load(f)["num_hidden_layers"])


def sequence_inputs() -> Dict[str, tf_keras.Input]:
    """Dense int32 [batch, length] inputs; length varies per batch (dynamic padding)."""
    return {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
            for name in SEQUENCE_FEATURES}


def build_sequence_classifier(checkpoint_dir: str, num_labels: int,
                              problem_type: str = "single_label_classification") -> tf_keras.Model:
    """ELECTRA discriminator + HuggingFace's classification head, returning logits."""
    # Imported here so modules that only serve or preprocess do not pay for transformers.
    from transformers import TFElectraForSequenceClassification

    electra = TFElectraForSequenceClassification.from_pretrained(
        checkpoint_dir, num_labels=num_labels, problem_type=problem_type,
        # A PyTorch model.safetensors beside tf_model.h5 cannot load without torch.
        use_safetensors=False)
    inputs = sequence_inputs()
    logits = electra(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                     token_type_ids=inputs["token_type_ids"]).logits
    return tf_keras.Model(inputs=inputs, outputs=logits, name="electra_classifier")


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
