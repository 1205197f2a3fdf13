"""Can the target TF Serving load this SavedModel? Every op it uses must be linked in the server.

A SavedModel that uses an op the model server does not have fails only when TF Serving loads
it ("Op type not registered 'TFText>RoundRobinTrim' in binary running on ..."), long after the
push. The Pusher (components/atomic_pusher.py) checks first, and a model that needs a missing op
is not pushed; the op is named in the PushedModel's `not_pushed_reason` and in the run summary.

The ops of a SavedModel are the `op` of every node of its MetaGraphs' graphs and of every
function in their function libraries (calls of library functions by name are not ops).

What stock TF Serving links (`tensorflow/serving`, `tensorflow_serving/model_servers/BUILD`,
`SUPPORTED_TENSORFLOW_OPS`): TensorFlow's own ops plus `@org_tensorflow_text//tensorflow_text:
ops_lib`, with TF Text pinned at 2.12.1 in TF Serving 2.12 to 2.19 (tensorflow/serving#2267:
"Op type not registered 'TFText>RoundRobinTrim'" from a model saved with TF Text 2.18;
tensorflow/serving#4057, still open: "The embedded TensorFlow Text version is 2.12.1").

- TensorFlow's ops: approximated by the ops registered in the installed TensorFlow (2.16 here,
  the default target) minus those registered by TF Text's libraries (read from their own op
  lists, whichever TF Text version is installed). Other libraries that register ops in this
  process would count as TensorFlow's; none of this project's do.
- TF Text's: TF_TEXT_2_12_1_OPS below, from the TF Text v2.12.1 source: the `ops_lib` target in
  `tensorflow_text/BUILD` lists 21 op libraries; their op definitions are
  `tensorflow_text/core/ops/*.cc` (`REGISTER_OP("...")`, or `REGISTER_TF_OP_SHIM(Kernel)` whose
  name is the kernel's `kOpName` in `tensorflow_text/core/kernels/*_kernel_template.h`).
  `trimmer_ops.cc` (TFText>RoundRobinTrim, TFText>RoundRobinGenerateMasks) exists in 2.12.1
  but is not in `ops_lib`; `TFText>Utf8Binarize` came later.
"""
import dataclasses
import glob
import os
from typing import FrozenSet, Iterable, List, Optional, Set

DEFAULT_TARGET = "2.16"

# tensorflow/text v2.12.1, tensorflow_text/BUILD `ops_lib` -> tensorflow_text/core/ops/*.cc.
TF_TEXT_2_12_1_OPS: FrozenSet[str] = frozenset({
    # boise_offset_converter_op.cc (shims)
    "TFText>OffsetsToBoiseTags", "TFText>BoiseTagsToOffsets",
    # byte_splitter_op.cc (shims)
    "TFText>ByteSplitWithOffsets", "TFText>ByteSplitByOffsets",
    # constrained_sequence_op.cc
    "ConstrainedSequence",
    # fast_bert_normalizer_op.cc (shim)
    "FastBertNormalize",
    # fast_sentencepiece_ops.cc
    "TFText>FastSentencepieceTokenize", "TFText>FastSentencepieceDetokenize",
    # fast_wordpiece_tokenizer_op.cc (shims)
    "FastWordpieceTokenizeWithOffsets", "TFText>FastWordpieceDetokenize",
    # mst_ops.cc
    "MaxSpanningTree",
    # ngrams_op.cc (shim)
    "TFText>NgramsStringJoin",
    # normalize_ops.cc
    "CaseFoldUTF8", "NormalizeUTF8", "NormalizeUTF8WithOffsetsMap", "FindSourceOffsets",
    # phrase_tokenizer_op.cc (shims)
    "PhraseTokenize", "TFText>PhraseDetokenize",
    # regex_split_ops.cc
    "RegexSplitWithOffsets",
    # sentence_breaking_ops.cc
    "SentenceFragments",
    # sentencepiece_ops.cc
    "SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceTokenizeWithOffsetsOp",
    "SentencepieceDetokenizeOp", "SentencepieceVocabSizeOp", "SentencepieceIdToStringOp",
    "SentencepieceStringToIdOp",
    # tokenizer_from_logits_op.cc (split_merge_from_logits_tokenizer)
    "TokenizerFromLogits",
    # split_merge_tokenize_op.cc
    "SplitMergeTokenizeWithOffsets",
    # sentence_fragmenter_v2_op.cc (state_based_sentence_breaker_op; shim)
    "SentenceFragmentsV2",
    # rouge_l_op.cc (text_similarity_metric_ops)
    "RougeL",
    # unicode_script_tokenize_op.cc
    "UnicodeScriptTokenizeWithOffsets",
    # whitespace_tokenize_op.cc
    "WhitespaceTokenizeWithOffsets",
    # whitespace_tokenizer_op.cc (whitespace_tokenizer_v2; shim)
    "TFText>WhitespaceTokenizeWithOffsetsV2",
    # wordpiece_op.cc
    "WordpieceTokenizeWithOffsets",
})

# Target TF Serving version -> (what it links besides TensorFlow's ops, its description). Only
# the installed TensorFlow's version: its registry stands for the server's TensorFlow ops.
TARGETS = {"2.16": (TF_TEXT_2_12_1_OPS, "TF Serving 2.16 (TensorFlow's ops + TF Text 2.12.1)")}


@dataclasses.dataclass
class Compatibility:
    target: str
    missing: List[str]  # ops the model uses that the target does not have, sorted
    used: int           # how many distinct ops the model uses

    @property
    def ok(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        if self.ok:
            return f"every op of the model ({self.used}) exists in {self.target}"
        names = ", ".join(self.missing)
        return (f"the model uses op{'s' if len(self.missing) > 1 else ''} {names}, which "
                f"{self.target} does not have: it could not load the model")


def saved_model_ops(model_dir: str) -> Set[str]:
    """The op names of every node in the SavedModel's graphs and function libraries."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    with tf.io.gfile.GFile(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    ops: Set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        library = meta_graph.graph_def.library
        functions = {f.signature.name for f in library.function}
        nodes = list(meta_graph.graph_def.node)
        for function in library.function:
            nodes.extend(function.node_def)
        ops.update(node.op for node in nodes if node.op not in functions)
    return ops


def _registered_ops() -> Set[str]:
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session
    buffer = pywrap_tf_session.TF_GetAllOpList()
    try:
        op_list = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetBuffer(buffer))
    finally:
        pywrap_tf_session.TF_DeleteBuffer(buffer)
    return {op.name for op in op_list.op}


def installed_tf_text_ops() -> Set[str]:
    """The ops registered by the installed TF Text's libraries (loading them registers them)."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session
    try:
        import tensorflow_text
    except ImportError:
        return set()
    ops: Set[str] = set()
    package = os.path.dirname(tensorflow_text.__file__)
    for library in glob.glob(os.path.join(package, "**", "_*.so"), recursive=True):
        handle = pywrap_tf_session.TF_LoadLibrary(library)  # as tf.load_op_library
        try:
            op_list = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetOpList(handle))
        finally:
            pywrap_tf_session.TF_DeleteLibraryHandle(handle)
        ops.update(op.name for op in op_list.op)
    return ops


_TENSORFLOW_OPS: Optional[FrozenSet[str]] = None


def tensorflow_ops() -> FrozenSet[str]:
    """TensorFlow's own ops: those registered in this process minus TF Text's (see above)."""
    global _TENSORFLOW_OPS
    if _TENSORFLOW_OPS is None:
        tf_text = installed_tf_text_ops()  # first: loading registers them
        _TENSORFLOW_OPS = frozenset(_registered_ops() - tf_text)
    return _TENSORFLOW_OPS


def check_ops(ops: Iterable[str], target: str = DEFAULT_TARGET) -> Compatibility:
    if target not in TARGETS:
        raise ValueError(f"unknown TF Serving target {target!r}; known: {', '.join(TARGETS)}")
    extra, description = TARGETS[target]
    ops = set(ops)
    available = tensorflow_ops() | extra
    return Compatibility(description, sorted(ops - available), len(ops))


def check_saved_model(model_dir: str, target: str = DEFAULT_TARGET) -> Compatibility:
    """Whether TF Serving `target` has every op the SavedModel at `model_dir` uses."""
    return check_ops(saved_model_ops(model_dir), target)
