"""Text-pair classification: `[CLS] a [SEP] b [SEP]` with token_type_ids 0/1.

Everything but the inputs is text-classification's: the label variants (`--multi-label`,
`--regression`, e.g. a similarity score for sentence pairs: each its own class here, the
text-classification variant with the pair's inputs), head, loss, metrics and TFMA set-up.
The pair is truncated longest-first exactly as HF's `tokenizer(a, b, truncation=True,
max_length=N)` (tokenization.WordPieceEncoder.encode_pair). `serve_text` takes `text` and
`text_pair`; `serving_default` takes serialized tf.Examples holding both columns.
"""
from typing import Dict

from trainer.tasks import register
from trainer.tasks.text_classification import (MultiLabelTextClassificationTask,
                                               RegressionTextClassificationTask,
                                               TextClassificationTask)

NAME = "text-pair-classification"


class _PairInputs:
    """The inputs of a text pair: `text` and `text_pair`."""
    name = NAME

    def serving_text_inputs(self, config) -> Dict[str, str]:
        return {"text": config.data.text_column, "text_pair": config.data.text_pair_column}

    def encode(self, encoder, texts, config):
        return encoder.encode_pair(texts[config.data.text_column],
                                   texts[config.data.text_pair_column],
                                   config.model.max_seq_length)


@register
class TextPairClassificationTask(_PairInputs, TextClassificationTask):
    intended_use = "Assigns one of the labels below to a pair of texts."


@register
class MultiLabelTextPairClassificationTask(_PairInputs, MultiLabelTextClassificationTask):
    pass


@register
class RegressionTextPairClassificationTask(_PairInputs, RegressionTextClassificationTask):
    pass
