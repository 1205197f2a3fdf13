"""trainer/tokenization.py: in-graph WordPiece ids identical to HF ``ElectraTokenizerFast``.

What is measured:
  * every code point of Unicode planes 0-3 and 14 (and a sample of the unassigned and
    private-use planes), through HF's BertNormalizer + BertPreTokenizer vs our in-graph
    normalisation + word split (cased and uncased);
  * ids on 95 hard strings (accents, punctuation runs, emoji, CJK, control chars, long words,
    special-token text, truncation at 8 and 128) with a small vocabulary built in tmp_path,
    cased and uncased (always runs), and with the real uncased vocabulary from ../shared
    (skipped when absent);
  * ids on the 3,000 real sentences of data/sentiment_sentences (>= 99.9% identical, printed);
  * the same ids from a tf.function, from a SavedModel reloaded in a fresh process that imports
    only TensorFlow and TF Text, and from a tf.Transform (TF2) AnalyzeAndTransformDataset.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
import tensorflow as tf
from tokenizers import normalizers, pre_tokenizers
from transformers import ElectraTokenizerFast

from tests.conftest import EMBEDDED_DATA
from trainer import tokenization

LONG_TEXT = " ".join(["The supercalifragilistic movie, honestly, was un-be-liev-able!!"] * 12)

HARD_CASES = [
    # accents and combining marks
    "café", "naïve", "Ångström", "Zoë", "crème brûlée à la façade", "São Paulo, Dvořák",
    "A\u0301 combining acute, e\u0301\u0302 stacked, o\u0308\u0304", "Ωμέγα ἀρχή",
    # punctuation runs and ASCII symbols
    "!!!...???", "--", "''", '"quoted" (parens) [brackets] {braces}', "it's, don't!!",
    "¿Qué? ¡Hola! «guillemets» “smart” ‘single’", "em—dash en–dash… ellipsis",
    "$100 & 50% off #1 @user ^_^ ~tilde `tick` a/b\\c|d <=> +",
    # emoji (ZWJ sequences, skin tones, flags, variation selectors, post-Unicode-9 emoji)
    "😀", "I ❤️ it", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇫🇷 France",
    "emoji😀glued", "🥲 newer emoji 🫠",
    # CJK, kana, hangul; HF's Rust CJK ranges skip U+2B820..U+2B91F (tf_text's do not)
    "中文", "日本語のテキストです", "カタカナとひらがな", "한국어 텍스트", "中文English混合",
    "𠀀 ext B", "a\U0002B820b ext E, a\U0002B920b", "ｶﾀｶﾅ half-width", "「括弧」。",
    # control, format, private-use and odd whitespace characters
    "a\x00b", "x \x00[MASK]", "a\x07b", "a\u200bb zero width", "tab\tnew\nline\rcr",
    "nb\u00a0sp", "\ufeffBOM start", "a\u200db zwj", "soft\u00adhyphen", "a\x0cb\x0bc\x85d",
    "line\u2028sep\u2029para", "\ufffd replacement", "private\ue000use", "bidi\u202emark\u202c",
    "ideo\u3000space", "a\x1cb\x1fc", "non\ufdd0char \uffff", "ar\u0890b (new Cf) a\u08e2b",
    # long words: HF's limit is 100 characters after normalisation, not bytes
    "a" * 99, "a" * 100, "a" * 101, "a" * 300, "é" * 99, "é" * 100, "é" * 101, "ж" * 101,
    "😀" * 30, "😀" * 101, "e\u0301" * 60, "x" * 98 + "ﬁ", "pre " + "b" * 150 + " post",
    # mixed case, numbers, URLs, HTML
    "HeLLo WoRLD iPhone McDonald's", "ALLCAPS SHOUTING CamelCaseWord",
    "3.14159 1,000,000 2024-01-01 10:30pm", "½ ⅓ ²³ ١٢٣ Ⅻ",
    "https://www.example.com/path?q=1&x=y#frag user@example.com",
    "<p>Hello <b>world</b></p> &amp; &lt; &#39;",
    # full-width forms, ligatures, ß, dotted/dotless I, final sigma
    "Ｈｅｌｌｏ，ｗｏｒｌｄ！ １２３", "ﬁnancial ﬂow Æsop œuvre", "Straße STRASSE ẞ",
    "İstanbul DİYARBAKIR ı i̇", "ΟΔΟΣ Σίσυφος ς",
    # Greek, Cyrillic, RTL scripts, Indic, Thai
    "Привет, мир! Ёлка", "مرحبا بالعالم", "عَرَبِيّ with harakat", "שלום עולם",
    "שָׁלוֹם with niqqud", "ภาษาไทย", "हिन्दी", "Ελληνικά",
    # empty and whitespace-only
    "", " ", "   \t\n  ", "\u3000\u00a0",
    # special tokens typed in the text (HF matches them on the raw text)
    "[MASK] [CLS]", "hello[SEP]world", "[mask] [Mask]", "[MA\x00SK]", "[[PAD]][UNK]",
    "[unused0]",
    # long enough to be truncated at 128
    LONG_TEXT, LONG_TEXT.upper(),
]


def _hf_ids(hf, texts, max_length):
    return hf(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _our_ids(encoder, texts, max_length):
    return encoder.encode(tf.constant(list(texts)), max_length)["input_ids"].to_list()


def _mismatches(encoder, hf, texts, max_length):
    ours, theirs = _our_ids(encoder, texts, max_length), _hf_ids(hf, texts, max_length)
    return [(t, o, h) for t, o, h in zip(texts, ours, theirs) if o != h]


# ---- A small cased vocabulary (always available) -------------------------------------------

def _small_vocab():
    """Specials, every character of the hard cases (word-initial and ##), some whole words,
    and one duplicated line (HF keeps the last index of a duplicate)."""
    chars = sorted({c for text in HARD_CASES for c in text if not c.isspace()})
    lower = sorted({c.lower() for c in chars} - set(chars))
    words = ["Hello", "hello", "world", "World", "café", "cafe", "Straße", "strasse", "ﬁ",
             "Ｈｅｌｌｏ", "ΟΔΟΣ", "οδοσ", "οδος", "##ing", "##s", "super", "##cal", "##ifr",
             "The", "the", "movie", "mask", "MASK", "un", "##be", "İstanbul", "istanbul"]
    vocab = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += words + chars + lower + ["##" + c for c in chars + lower]
    return vocab + ["hello"]


@pytest.fixture(scope="module")
def small_vocab_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("small_vocab")
    (path / "vocab.txt").write_text("\n".join(_small_vocab()) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return path


def _small_pair(vocab_dir, lower_case):
    hf = ElectraTokenizerFast(vocab_file=str(vocab_dir / "vocab.txt"), do_lower_case=lower_case)
    encoder = tokenization.WordPieceEncoder(
        tokenization.load_vocab(str(vocab_dir / "vocab.txt")), lower_case)
    return encoder, hf


def test_vocab_and_config_readers(tmp_path, small_vocab_dir):
    (tmp_path / "vocab.txt").write_bytes("[PAD]\r\nab \r\n\n\u2028x\nlast".encode("utf-8"))
    assert tokenization.load_vocab(str(tmp_path / "vocab.txt")) == [
        "[PAD]", "ab ", "", "\u2028x", "last"]
    assert tokenization.read_lower_case(str(tmp_path)) is True  # no tokenizer_config.json
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    assert tokenization.read_lower_case(str(tmp_path)) is True
    assert tokenization.read_lower_case(str(small_vocab_dir)) is False
    vocab = tokenization.load_vocab(str(small_vocab_dir / "vocab.txt"))
    assert vocab == _small_vocab()
    encoder = tokenization.WordPieceEncoder(vocab, False)
    assert (encoder.pad_id, encoder.unk_id, encoder.cls_id, encoder.sep_id) == (0, 2, 3, 4)
    assert all(isinstance(i, int) for i in (encoder.pad_id, encoder.unk_id, encoder.cls_id))
    with pytest.raises(ValueError, match="MASK"):
        tokenization.WordPieceEncoder(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], True)


@pytest.mark.parametrize("lower_case", [False, True], ids=["cased", "uncased"])
def test_hard_cases_small_vocab(small_vocab_dir, lower_case):
    encoder, hf = _small_pair(small_vocab_dir, lower_case)
    # The vocabulary must make the comparison meaningful: mostly real pieces, not [UNK].
    ids = [i for row in _hf_ids(hf, HARD_CASES, 512) for i in row]
    assert sum(i == encoder.unk_id for i in ids) < 0.1 * len(ids)
    for max_length in (8, 128):
        assert _mismatches(encoder, hf, HARD_CASES, max_length) == []
    ours = encoder.tokenize(tf.constant(HARD_CASES)).to_list()
    assert ours == hf(HARD_CASES, add_special_tokens=False)["input_ids"]


def test_encode_outputs(small_vocab_dir):
    encoder, _ = _small_pair(small_vocab_dir, True)
    out = encoder.encode(tf.constant(["Hello world", "", LONG_TEXT]), 8)
    assert set(out) == {"input_ids", "token_type_ids", "attention_mask"}
    for value in out.values():
        assert isinstance(value, tf.RaggedTensor) and value.dtype == tf.int64
        assert value.row_lengths().numpy().tolist() == [4, 2, 8]
    assert out["token_type_ids"].flat_values.numpy().tolist() == [0] * 14
    assert out["attention_mask"].flat_values.numpy().tolist() == [1] * 14
    assert out["input_ids"][1].numpy().tolist() == [encoder.cls_id, encoder.sep_id]
    with pytest.raises(ValueError):
        encoder.encode(tf.constant(["x"]), 1)


# ---- Every code point, normaliser + pre-tokeniser level ---------------------------------------

def _code_point_chunks():
    """Code points as "A<c>b", 1,000 per line: all of planes 0-3 and 14; every 61st of the
    never-assigned planes 4-13 and the private-use planes 15-16 (uniform there, and sampling
    keeps the test fast).  Noncharacters (all 66) go in a line of their own: they take the
    lowercase op's other branch."""
    def nonchar(c):
        return 0xFDD0 <= c <= 0xFDEF or (c & 0xFFFE) == 0xFFFE
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and (
        c < 0x40000 or 0xE0000 <= c < 0xF0000 or c % 61 == 0 or nonchar(c))]
    normal = [c for c in cps if not nonchar(c)]
    chunks = [normal[i:i + 1000] for i in range(0, len(normal), 1000)]
    return [" ".join(f"A{chr(c)}b" for c in chunk) for chunk in chunks], [
        " ".join(f"A{chr(c)}b" for c in cps if nonchar(c))]


@pytest.mark.parametrize("lower_case", [False, True], ids=["cased", "uncased"])
def test_every_code_point_matches_hf_normalizer_and_pre_tokenizer(lower_case):
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=lower_case)
    pre = pre_tokenizers.BertPreTokenizer()
    basic = tokenization._HFBasicTokenizer(lower_case, lower_case, True)
    for lines in _code_point_chunks():
        expected = [" ".join(w for w, _ in pre.pre_tokenize_str(norm.normalize_str(line)))
                    for line in lines]
        words = basic.tokenize(tf.constant(lines))
        ours = tf.strings.reduce_join(words, axis=1, separator=" ").numpy()
        bad = [(line[:80], e[:80]) for line, e, o in zip(lines, expected, ours)
               if o.decode("utf-8") != e]
        assert bad == []


# ---- The real uncased vocabulary (../shared) -------------------------------------------------

@pytest.fixture(scope="module")
def uncased(shared_checkpoint):
    hf = ElectraTokenizerFast.from_pretrained(str(shared_checkpoint))
    vocab = tokenization.load_vocab(str(shared_checkpoint / "vocab.txt"))
    assert vocab == sorted(hf.get_vocab(), key=hf.get_vocab().get)  # read as HF reads it
    lower_case = tokenization.read_lower_case(str(shared_checkpoint))
    assert lower_case is True
    return tokenization.WordPieceEncoder(vocab, lower_case), hf


def test_real_sentences_parity(uncased):
    encoder, hf = uncased
    texts = [json.loads(line)["text"]
             for path in sorted(EMBEDDED_DATA.glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(texts) == 3000
    mismatches = _mismatches(encoder, hf, texts, 128)
    rate = 1 - len(mismatches) / len(texts)
    print(f"\nparity on {len(texts)} real sentences: {len(texts) - len(mismatches)}"
          f"/{len(texts)} = {rate:.2%} identical id sequences")
    assert rate >= 0.999, mismatches[:5]


def test_hard_cases_real_vocab(uncased):
    encoder, hf = uncased
    for max_length in (8, 128):
        assert _mismatches(encoder, hf, HARD_CASES, max_length) == []
    assert encoder.tokenize(tf.constant(HARD_CASES)).to_list() == hf(
        HARD_CASES, add_special_tokens=False)["input_ids"]
    # Non-vacuous: long texts are truncated, and the hard cases are not all [UNK].
    assert len(_our_ids(encoder, [LONG_TEXT], 128)[0]) == 128
    assert len(_hf_ids(hf, [LONG_TEXT], 100_000)[0]) > 128


# ---- tf.function, SavedModel in a fresh process, tf.Transform ------------------------------

class _Serving(tf.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def encode(self, texts):
        encoded = self.encoder.encode(texts, 16)
        return {name: value.to_tensor(default_value=-1) for name, value in encoded.items()}


_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the TF Text ops)
    texts = json.loads(open(sys.argv[2], encoding="utf-8").read())
    loaded = tf.saved_model.load(sys.argv[1])
    ids = loaded.signatures["serving_default"](texts=tf.constant(texts))["input_ids"]
    rows = [[i for i in row if i >= 0] for row in ids.numpy().tolist()]
    assert not [m for m in sys.modules if m.split(".")[0] in ("trainer", "transformers")]
    print(json.dumps(rows))
""")


def test_tf_function_and_saved_model_in_fresh_process(small_vocab_dir, tmp_path):
    encoder, hf = _small_pair(small_vocab_dir, True)
    serving = _Serving(encoder)
    expected = _hf_ids(hf, HARD_CASES, 16)
    traced = serving.encode(tf.constant(HARD_CASES))["input_ids"].numpy().tolist()
    assert [[i for i in row if i >= 0] for row in traced] == expected

    tf.saved_model.save(serving, str(tmp_path / "model"),
                        signatures={"serving_default": serving.encode})
    (tmp_path / "texts.json").write_text(json.dumps(HARD_CASES), encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(tmp_path / "model"),
         str(tmp_path / "texts.json")],
        capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected


def test_tf_transform_preprocessing_fn(small_vocab_dir):
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam

    vocab = tokenization.load_vocab(str(small_vocab_dir / "vocab.txt"))
    texts = ["Hello World!", "ΟΔΟΣ café", "", "[MASK] İstanbul ﬁ", "a" * 101, LONG_TEXT]

    def preprocessing_fn(inputs):
        # Built inside the preprocessing_fn, as the Transform component does.
        encoder = tokenization.WordPieceEncoder(vocab, True)
        return {"input_ids": encoder.encode(inputs["text"], 12)["input_ids"].to_sparse()}

    metadata = tft.DatasetMetadata.from_feature_spec(
        {"text": tf.io.FixedLenFeature([], tf.string)})
    with tempfile.TemporaryDirectory() as temp_dir:
        with tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=False):
            (data, _), _ = ([{"text": t} for t in texts], metadata) | (
                tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
    hf = ElectraTokenizerFast(vocab_file=str(small_vocab_dir / "vocab.txt"), do_lower_case=True)
    assert [row["input_ids"].tolist() for row in data] == _hf_ids(hf, texts, 12)
