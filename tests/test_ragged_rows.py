"""trainer/ragged_rows.py gives the values of the tf.ragged operations it replaces, on empty
rows, an empty batch and in a traced graph, and builds far fewer ops than they do."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import ragged_rows


def _ragged(lengths, seed=0, dtype=tf.int64):
    rng = np.random.default_rng(seed)
    values = rng.integers(-50, 50, size=sum(lengths))
    return tf.RaggedTensor.from_row_lengths(tf.constant(values, dtype),
                                            tf.constant(lengths, tf.int64))


CASES = [[3, 0, 5, 1], [0, 0], [], [7]]


def _same(a: tf.RaggedTensor, b: tf.RaggedTensor):
    assert a.to_list() == b.to_list()
    assert a.row_splits.dtype == tf.int64 and a.values.shape.rank == 1


@pytest.mark.parametrize("lengths", CASES)
def test_values_equal_the_tf_ragged_operations(lengths):
    a, b = _ragged(lengths, 1), _ragged(lengths, 2)
    _same(ragged_rows.concat_rows([2, a, 3, b, 3]),
          tf.concat([tf.fill([len(lengths), 1], tf.constant(2, tf.int64)), a,
                     tf.fill([len(lengths), 1], tf.constant(3, tf.int64)), b,
                     tf.fill([len(lengths), 1], tf.constant(3, tf.int64))], axis=1))
    _same(ragged_rows.concat_rows([a, b]), tf.concat([a, b], axis=1))
    for keep in (0, 2, 9):
        same_for_all = tf.fill([len(lengths)], tf.constant(keep, tf.int64))
        _same(ragged_rows.first_values(a, same_for_all), a[:, :keep])
    keep = tf.constant([(i * 2) % 4 for i in range(len(lengths))], tf.int64)
    expected = tf.ragged.boolean_mask(a, tf.ragged.range(a.row_lengths()) < keep[:, None])
    _same(ragged_rows.first_values(a, keep), expected)
    nested = tf.RaggedTensor.from_row_lengths(a, tf.constant([len(lengths)], tf.int64)) \
        if lengths else tf.RaggedTensor.from_row_lengths(a, tf.constant([0], tf.int64))
    _same(ragged_rows.merge_inner(nested), nested.merge_dims(1, 2))
    assert ragged_rows.ones_from(a, keep).to_list() == [
        [int(j >= k) for j in range(len(row))] for row, k in zip(a.to_list(), keep.numpy())]
    rows, position = ragged_rows.row_positions(a)
    assert rows.numpy().tolist() == a.value_rowids().numpy().tolist()
    assert position.numpy().tolist() == tf.ragged.range(a.row_lengths()).flat_values.numpy().tolist()


def _ops(fn, *specs):
    return len(tf.function(fn).get_concrete_function(*specs).graph.as_graph_def().node)


def test_traced_graphs_keep_their_shapes_and_are_smaller():
    spec = tf.RaggedTensorSpec([None, None], tf.int64, row_splits_dtype=tf.int64)
    nested = tf.RaggedTensorSpec([None, None, None], tf.int64, row_splits_dtype=tf.int64)
    keep = tf.TensorSpec([None], tf.int64)

    def column(a, value):
        return tf.RaggedTensor.from_tensor(tf.fill([a.nrows(), 1], tf.constant(value, tf.int64)))

    pairs = {
        "concat": ((lambda a, b: ragged_rows.concat_rows([2, a, 3, b, 3])),
                   (lambda a, b: tf.concat([column(a, 2), a, column(a, 3), b, column(a, 3)],
                                           axis=1)), (spec, spec), 1.5),
        "first": ((lambda a, k: ragged_rows.first_values(a, k)),
                  (lambda a, k: tf.ragged.boolean_mask(
                      a, tf.ragged.range(a.row_lengths()) < k[:, None])), (spec, keep), 4),
        "merge": (ragged_rows.merge_inner, (lambda a: a.merge_dims(1, 2)), (nested,), 4),
    }
    for name, (ours, theirs, specs, factor) in pairs.items():
        assert _ops(ours, *specs) * factor < _ops(theirs, *specs), name
    concrete = tf.function(pairs["concat"][0]).get_concrete_function(spec, spec)
    assert concrete.structured_outputs.shape.rank == 2
    assert concrete(_ragged([3, 0], 1), _ragged([1, 2], 2)).to_list() == \
        tf.concat([tf.constant([[2], [2]], tf.int64), _ragged([3, 0], 1),
                   tf.constant([[3], [3]], tf.int64), _ragged([1, 2], 2),
                   tf.constant([[3], [3]], tf.int64)], axis=1).to_list()


def test_regex_split_equals_tf_text_without_its_assert_functions():
    import tensorflow_text as tf_text
    texts = tf.constant(["hello  there, you", "", "a\u00e9b c", "  "])
    ours = ragged_rows.regex_split_with_offsets(texts, "\\s|,", ",")
    theirs = tf_text.regex_split_with_offsets(texts, "\\s|,", ",")
    for a, b in zip(ours, theirs):
        assert a.to_list() == b.to_list() and a.row_splits.dtype == tf.int64
    assert ragged_rows.regex_split(texts, "\\s").to_list() == \
        tf_text.regex_split(texts, "\\s").to_list()
    spec = tf.TensorSpec([None], tf.string)

    def assert_functions(fn):
        graph = tf.function(fn).get_concrete_function(spec).graph.as_graph_def()
        return sum("Assert" in f.signature.name for f in graph.library.function)

    assert assert_functions(lambda t: ragged_rows.regex_split(t, "\\s")) == 0
    assert assert_functions(lambda t: tf_text.regex_split(t, "\\s")) > 0
    with pytest.raises(ValueError, match="1-D"):
        ragged_rows.regex_split(tf.constant([["a"]]), "\\s")


def test_concatenated_strings_keep_their_order():
    a = tf.RaggedTensor.from_row_lengths(tf.constant(["x", "y", "z"]), tf.constant([1, 0, 2],
                                                                                   tf.int64))
    b = tf.RaggedTensor.from_row_lengths(tf.constant(["p", "q"]), tf.constant([0, 2, 0],
                                                                              tf.int64))
    out = ragged_rows.concat_rows([a, "|", b], tf.string)
    assert out.to_list() == [[b"x", b"|"], [b"|", b"p", b"q"], [b"y", b"z", b"|"]]


def test_the_encoders_graphs_hold_no_validation_functions():
    """What each export and each tf.Transform trace holds: every saved assert function is one
    more function for each SavedModel load to rebuild (there were 144 in a classifier's)."""
    from trainer import tokenization
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "pizza", "##s"]
    encoder = tokenization.WordPieceEncoder(vocab, True)
    spec = tf.TensorSpec([None], tf.string)
    for fn in (lambda t: encoder.encode(t, 8), lambda t: encoder.encode_pair(t, t, 8)):
        graph = tf.function(fn).get_concrete_function(spec).graph.as_graph_def()
        names = [f.signature.name for f in graph.library.function]
        assert not [n for n in names if "Assert" in n], names
        assert len(graph.node) + sum(len(f.node_def) for f in graph.library.function) < 900
    assert encoder.encode_pair(tf.constant(["pizzas the"]), tf.constant(["the"]), 8)[
        "input_ids"].to_list() == [[2, 6, 7, 5, 3, 5, 3]]
