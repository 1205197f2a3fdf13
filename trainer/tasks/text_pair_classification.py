"""Text-pair classification: `[CLS] a [SEP] b [SEP]` with token_type_ids 0/1.

Everything but the inputs is text-classification's: the label variants (`--multi-label`,
`--regression`, e.g. a similarity score for sentence pairs), head, loss, metrics and TFMA set-up.
The pair is truncated longest-first exactly as HF's `tokenizer(a, b, truncation=True,
max_length=N)` (tokenization.WordPieceEncoder.encode_pair). `serve_text` takes `text` and
`text_pair`; `serving_default` takes serialized tf.Examples holding both columns.
"""
from typing import Dict, List

from trainer.tasks.text_classification import TextClassificationTask


class TextPairClassificationTask(TextClassificationTask):
    name = "text-pair-classification"

    def raw_text_columns(self, config) -> List[str]:
        return [config.data.text_column, config.data.text_pair_column]

    def serving_text_inputs(self, config) -> Dict[str, str]:
        return {"text": config.data.text_column, "text_pair": config.data.text_pair_column}

    def encode(self, encoder, texts, config):
        return encoder.encode_pair(texts[config.data.text_column],
                                   texts[config.data.text_pair_column],
                                   config.model.max_seq_length)
