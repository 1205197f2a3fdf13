"""Beam RunInference on a pushed SavedModel's serving signature (`electra-tfx predict`).

    handler = SignatureModelHandler(model_dir, "serve_text", columns={"text": "review"})
    rows | RunInference(KeyedModelHandler(handler))   # (key, tf.train.Example) in,
                                                      # (key, PredictionResult) out

A ModelHandler of our own rather than Beam's TFModelHandlerTensor/Numpy, because those load
the model with `tf.keras.models.load_model` and call `model(tf.stack(batch))`: one positional
tensor into the Keras model. The pushed model is exported without Keras traces
(save_traces=False), so Keras cannot rebuild it, and what it serves are signatures with named
string inputs: `serving_default(examples=...)` (serialized tf.Examples) and
`serve_text(text=..., text_pair=...)` / `serve_text(question=..., context=...)`. This handler
loads the SavedModel with `tf.saved_model.load` and calls the signature by its input names;
Beam still does the batching, the model sharing between threads and the metrics.

TF Text's ops (the in-graph WordPiece tokenizer) must be registered in every process that
loads the model: this module imports tensorflow_text, and Beam workers import it to unpickle
the handler (tensorflow/tfx#3901 is the failure when they are not).
"""
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import tensorflow as tf
import tensorflow_text  # noqa: F401  (the signatures' TF Text ops, in every Beam worker)
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

SIGNATURES = ("serving_default", "serve_text")
EXAMPLES_INPUT = "examples"
# Seconds each load of a model took in this process (the command's throughput excludes them).
LOAD_SECONDS: List[float] = []
# Graph ops that call a function: followed to find what a signature parses.
_CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")


class _Loaded:
    """The loaded SavedModel (kept alive: the signature holds only weak references to its
    variables) and the signature's function."""

    def __init__(self, model_dir: str, signature: str):
        self.model = tf.saved_model.load(model_dir)
        if signature not in self.model.signatures:
            raise ValueError(f"the model at {model_dir} has no signature {signature!r}; it has "
                             f"{', '.join(sorted(self.model.signatures))}")
        self.function = self.model.signatures[signature]


def signature_inputs(model_dir: str, signature: str) -> List[str]:
    """The input names of `signature`, read from saved_model.pb (nothing loaded)."""
    signature_def = meta_graph(model_dir).signature_def
    if signature not in signature_def:
        raise ValueError(f"the model at {model_dir} has no signature {signature!r}; it has "
                         f"{', '.join(sorted(signature_def))}")
    return sorted(signature_def[signature].inputs)


def parsed_columns(model_dir: str, signature: str = "serving_default") -> List[str]:
    """The tf.Example features that `signature` parses (the keys of its ParseExample ops):
    the columns a row needs for it. Read from the graph in saved_model.pb, following the
    function calls from the signature's outputs."""
    graph = meta_graph(model_dir)
    signature_def = graph.signature_def[signature]
    library = {f.signature.name: f for f in graph.graph_def.library.function}
    nodes = {n.name: n for n in graph.graph_def.node}
    pending = []
    for tensor in signature_def.outputs.values():
        node = nodes.get(tensor.name.split(":")[0])
        if node is not None and "f" in node.attr:
            pending.append(node.attr["f"].func.name)
    seen, keys = set(), []
    while pending:
        name = pending.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        body = {n.name: n for n in library[name].node_def}
        for node in body.values():
            if node.op in _CALL_OPS and "f" in node.attr:
                pending.append(node.attr["f"].func.name)
            elif node.op in ("ParseExampleV2", "ParseExample"):
                for source in node.input:
                    const = body.get(source.split(":")[0].lstrip("^"))
                    if const is not None and const.op == "Const":
                        tensor = const.attr["value"].tensor
                        if tensor.dtype == tf.string.as_datatype_enum:
                            keys += [v.decode("utf-8") for v in tensor.string_val]
    return sorted(set(keys))


def meta_graph(model_dir: str):
    from tensorflow.core.protobuf import saved_model_pb2
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(tf.io.gfile.join(model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model.meta_graphs[0]


def text_input(example: tf.train.Example, column: str) -> bytes:
    """A serve_text input from one column: its text, several values joined by spaces (token
    classification's words), b"" when absent."""
    feature = example.features.feature.get(column)
    if feature is None or feature.WhichOneof("kind") != "bytes_list":
        return b""
    return b" ".join(feature.bytes_list.value)


class SignatureModelHandler(ModelHandler[tf.train.Example, PredictionResult, _Loaded]):
    """Runs one serving signature of a SavedModel on batches of tf.train.Examples."""

    def __init__(self, model_dir: str, signature: str = "serving_default",
                 columns: Optional[Mapping[str, str]] = None, batch_size: int = 64,
                 input_names: Sequence[str] = ()):
        """`columns`: serve_text input -> the column feeding it (default: the same name);
        `input_names`: the signature's inputs (signature_inputs)."""
        super().__init__()
        self._model_dir = model_dir
        self._signature = signature
        self._columns = dict(columns or {})
        self._batch_size = batch_size
        self._input_names = list(input_names) or signature_inputs(model_dir, signature)

    def load_model(self) -> _Loaded:
        started = time.monotonic()
        loaded = _Loaded(self._model_dir, self._signature)
        LOAD_SECONDS.append(time.monotonic() - started)
        return loaded

    def feeds(self, batch: Sequence[tf.train.Example]) -> Dict[str, tf.Tensor]:
        if self._input_names == [EXAMPLES_INPUT]:
            return {EXAMPLES_INPUT: tf.constant([e.SerializeToString() for e in batch])}
        return {name: tf.constant([text_input(e, self._columns.get(name, name)) for e in batch])
                for name in self._input_names}

    def run_inference(self, batch: Sequence[tf.train.Example], model: _Loaded,
                      inference_args: Optional[Dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        outputs = {name: value.numpy() for name, value in model.function(**self.feeds(batch)).items()}
        return [PredictionResult(example, {name: value[i] for name, value in outputs.items()},
                                 self._model_dir)
                for i, example in enumerate(batch)]

    def get_num_bytes(self, batch: Sequence[tf.train.Example]) -> int:
        return sum(e.ByteSize() for e in batch)

    def get_metrics_namespace(self) -> str:
        return "ElectraTfxSignature"

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def share_model_across_processes(self) -> bool:
        return False
