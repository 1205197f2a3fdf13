"""Learning a lower-cased BERT WordPiece vocabulary from the training text (scratch checkpoints)."""
import logging
import unicodedata
from typing import Iterable, List

from trainer.checkpoints.files import SPECIAL_TOKENS, CheckpointError

_LOG = logging.getLogger(__name__)

# The vocabulary starts with them, [PAD] = 0 (ELECTRA's own vocabulary's order).
RESERVED = list(SPECIAL_TOKENS)
# HuggingFace's WordPiece maps longer words to [UNK]; the learner considers words up to this.
_MAX_WORD_CHARS = 100
_JOINER = "##"


def _normalized_words(texts: List[str]) -> Iterable[str]:
    """The words HuggingFace's ElectraTokenizerFast (uncased) feeds to WordPiece."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            yield word


def _usable_token(token: str) -> bool:
    return bool(token) and not any(
        c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in token)


def learn_wordpiece_vocabulary(texts: List[str], vocab_size: int) -> List[str]:
    """A lower-cased BERT WordPiece vocabulary of at most ~`vocab_size` tokens.

    Learned with TensorFlow Text's `bert_vocab_from_dataset`; [PAD], [UNK], [CLS], [SEP],
    [MASK] come first ([PAD] = 0). Every character seen in the text, and its `##` form, is in
    the vocabulary (they are kept even if that exceeds `vocab_size`), so no word of the
    training text maps to [UNK]. Small corpora give a smaller vocabulary.
    """
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset import (
        bert_vocab_from_dataset)

    texts = [t for t in texts if t.strip()]
    if not texts:
        raise CheckpointError(
            "cannot build a scratch checkpoint: the training data has no text to learn a "
            "vocabulary from")
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, dtype=tf.string)).batch(1024)
    learned = bert_vocab_from_dataset(
        dataset, vocab_size=vocab_size, reserved_tokens=RESERVED,
        bert_tokenizer_params={"lower_case": True},
        learn_params={
            # Words seen twice may become tokens (the default, 10, starves small corpora).
            "lower_thresh": 2,
            # Keep every character (the default drops all but the 1000 most frequent).
            "max_unique_chars": 1 << 30,
            "max_token_length": _MAX_WORD_CHARS,
        })
    learned = [t for t in learned if t not in RESERVED and _usable_token(t)]

    # Characters as HuggingFace normalises them (which may differ from TensorFlow Text's
    # NFKC case folding), so neither tokenizer meets a character outside the vocabulary.
    chars = {t for t in learned if len(t) == 1}
    chars.update(c for word in _normalized_words(texts) for c in word if _usable_token(c))
    char_tokens = sorted(chars) + sorted(_JOINER + c for c in chars)
    is_char = set(char_tokens)
    pieces = [t for t in learned if t not in is_char]  # most frequent first
    room = max(0, vocab_size - len(RESERVED) - len(char_tokens))
    if len(char_tokens) + len(RESERVED) > vocab_size:
        _LOG.warning("The training text has %d distinct characters: the scratch vocabulary "
                     "holds all of them (with ## forms), more than scratch_vocab_size=%d",
                     len(chars), vocab_size)
    return RESERVED + char_tokens + pieces[:room]
