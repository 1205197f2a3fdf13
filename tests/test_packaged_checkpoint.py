"""Tests of trainer/packaged_checkpoint.py: the packaged MiniLM encoder converted to ELECTRA.

The conversion is checked against the package's own files (its safetensors weights through a
NumPy re-implementation of BERT's encoder, its tokenizer.json through the `tokenizers`
library), and, in development checkouts, against ../shared's conversion of the same weights.
Nothing here downloads anything. Skips when the package is not installed.
"""
import json
import math
import os
import sys
import time
import zipfile

import numpy as np
import pytest

from trainer import checkpoint as ck
from trainer import packaged_checkpoint as pk

pytestmark = pytest.mark.skipif(
    pk.version() is None, reason=f"{pk.DISTRIBUTION} is not installed (make setup installs it)")

SENTENCES = [
    "The food at this restaurant was absolutely wonderful.",
    "The meal in this restaurant was delicious.",
    "The train to Berlin leaves from platform four at noon.",
    "Crème brûlée, naïve café — and 東京! (unicode & punctuation)",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A fresh conversion into an empty cache, and how long it took."""
    cache = tmp_path_factory.mktemp("cache")
    started = time.monotonic()
    path, version = pk.packaged_checkpoint(cache_dir=str(cache))
    return {"path": path, "version": version, "cache": cache,
            "seconds": time.monotonic() - started}


@pytest.fixture(scope="module")
def package():
    """The package's own config, tokenizer.json text and weights (BERT names)."""
    from safetensors.numpy import load

    with zipfile.ZipFile(pk.zip_path()) as archive:
        config = json.loads(archive.read("config.json"))
        tokenizer_json = archive.read("tokenizer.json").decode("utf-8")
        weights = load(archive.read("model.safetensors"))
    return {"config": config, "tokenizer_json": tokenizer_json, "weights": weights}


def _bert_encoder(weights, config, input_ids, attention_mask):
    """BERT's encoder (last hidden state) in NumPy, straight from the PyTorch weight names."""
    from scipy.special import erf

    w = {k[len("bert."):] if k.startswith("bert.") else k: v.astype(np.float64)
         for k, v in weights.items()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]

    def norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]

    def dense(x, prefix):
        return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]

    batch, length = input_ids.shape
    x = (w["embeddings.word_embeddings.weight"][input_ids]
         + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
         + w["embeddings.token_type_embeddings.weight"][np.zeros_like(input_ids)])
    x = norm(x, "embeddings.LayerNorm")
    bias = (1.0 - attention_mask[:, None, None, :]) * -1e9
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t):
            return t.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = (split(dense(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = norm(dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))  # "gelu": the exact, erf form
        x = norm(dense(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


def _hidden_states(path, texts):
    from transformers import ElectraTokenizerFast, TFElectraModel

    tokenizer = ElectraTokenizerFast.from_pretrained(str(path))
    batch = tokenizer(texts, padding=True, return_tensors="np")
    model = TFElectraModel.from_pretrained(str(path))
    out = model(dict(batch), training=False).last_hidden_state.numpy()
    return out, batch


# --------------------------------------------------------------------------- the directory

def test_converted_directory_is_an_electra_checkpoint(converted):
    path = converted["path"]
    ck.validate_checkpoint_dir(path)
    assert sorted(os.listdir(path)) == [
        "config.json", "source.json", "tf_model.h5", "tokenizer_config.json", "vocab.txt"]
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["model_type"] == "electra"
    assert {k: config[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                   "intermediate_size", "vocab_size", "embedding_size",
                                   "pad_token_id", "hidden_act")} == {
        "num_hidden_layers": 6, "hidden_size": 384, "num_attention_heads": 12,
        "intermediate_size": 1536, "vocab_size": 30522, "embedding_size": 384,
        "pad_token_id": 0, "hidden_act": "gelu"}
    with open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8") as f:
        assert json.load(f)["do_lower_case"] is True
    assert ck.read_lower_case(path) is True
    with open(os.path.join(path, "source.json"), encoding="utf-8") as f:
        source = json.load(f)
    assert source["package"] == pk.DISTRIBUTION and source["version"] == converted["version"]
    assert source["license"] == "Apache-2.0"
    assert os.path.dirname(path) == str(converted["cache"] / "packaged")
    assert converted["version"] in os.path.basename(path)
    assert "torch" not in sys.modules  # converted without torch
    print(f"\nfirst conversion: {converted['seconds']:.1f} s")


def test_every_encoder_weight_comes_from_the_package(converted, package):
    import h5py

    bert = {k[len("bert."):] if k.startswith("bert.") else k: v
            for k, v in package["weights"].items()}
    used = set()
    with h5py.File(os.path.join(converted["path"], "tf_model.h5"), "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        encoder = [n for n in names if n.startswith("electra/")]
        head = [n for n in names if n.startswith("discriminator_predictions/")]
        assert len(encoder) == 5 + 6 * 16 and len(head) == 4
        for name in encoder:
            bert_name, transpose = pk.bert_weight_name(name)
            expected = bert[bert_name].T if transpose else bert[bert_name]
            np.testing.assert_array_equal(f[name][()], expected, err_msg=name)
            used.add(bert_name)
    assert sorted(set(bert) - used) == [
        "embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight"]


def test_weight_names_map_onto_bert():
    assert pk.bert_weight_name(
        "tf_electra_for_pre_training/electra/encoder/layer_._3/attention/self/query/kernel:0") \
        == ("encoder.layer.3.attention.self.query.weight", True)
    assert pk.bert_weight_name("electra/tf_electra_for_pre_training/electra/embeddings/"
                               "position_embeddings/embeddings:0") == (
        "embeddings.position_embeddings.weight", False)
    assert pk.bert_weight_name("m/electra/embeddings/word_embeddings/weight:0") == (
        "embeddings.word_embeddings.weight", False)
    assert pk.bert_weight_name("m/electra/encoder/layer_._0/output/LayerNorm/gamma:0") == (
        "encoder.layer.0.output.LayerNorm.weight", False)
    with pytest.raises(ValueError):
        pk.bert_weight_name("m/discriminator_predictions/dense/kernel:0")


def test_missing_or_misshapen_weights_are_refused(package):
    from transformers import TFElectraForPreTraining

    config = pk.electra_config({**package["config"], "num_hidden_layers": 1})
    model = TFElectraForPreTraining(config)
    model(model.dummy_inputs)
    weights = {k: v for k, v in package["weights"].items() if "layer.1." not in k
               and not any(f"layer.{i}." in k for i in range(2, 6))}
    pk.electra_weights(model, weights)  # one layer: fits
    with pytest.raises(pk.PackagedEncoderError, match="no BERT weight embeddings.LayerNorm"):
        pk.electra_weights(model, {k: v for k, v in weights.items()
                                   if k != "embeddings.LayerNorm.weight"})
    with pytest.raises(pk.PackagedEncoderError, match="has shape"):
        pk.electra_weights(model, {**weights, "embeddings.LayerNorm.bias": np.zeros(3)})
    with pytest.raises(pk.PackagedEncoderError, match="unused BERT weights: encoder.layer.1"):
        pk.electra_weights(model, package["weights"])


# --------------------------------------------------------------------------- what it computes

def test_hidden_states_equal_a_numpy_bert(converted, package):
    ours, batch = _hidden_states(converted["path"], SENTENCES)
    mask = batch["attention_mask"].astype(np.float64)
    expected = _bert_encoder(package["weights"], package["config"], batch["input_ids"], mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(ours[real], expected[real], atol=2e-4, rtol=0)


def test_similar_sentences_embed_closer_than_unrelated_ones(converted):
    hidden, batch = _hidden_states(converted["path"], SENTENCES[:3])
    mask = batch["attention_mask"][..., None].astype(np.float32)
    mean = (hidden * mask).sum(1) / mask.sum(1)  # all-MiniLM-L6-v2's own pooling
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    similar, unrelated = float(mean[0] @ mean[1]), float(mean[0] @ mean[2])
    print(f"\ncosine: similar {similar:.3f}, unrelated {unrelated:.3f}")
    assert similar > 0.6 and unrelated < 0.3 and similar - unrelated > 0.4


def test_hidden_states_match_the_reference_conversion(converted, reference_checkpoint):
    ours, batch = _hidden_states(converted["path"], SENTENCES)
    reference, _ = _hidden_states(reference_checkpoint, SENTENCES)
    real = batch["attention_mask"].astype(bool)
    np.testing.assert_allclose(ours[real], reference[real], atol=1e-4, rtol=0)
    with open(os.path.join(converted["path"], "vocab.txt"), encoding="utf-8") as f, \
            open(reference_checkpoint / "vocab.txt", encoding="utf-8") as g:
        assert f.read() == g.read()


def test_token_ids_equal_the_package_tokenizer(converted, package):
    from tokenizers import Tokenizer
    from transformers import BertTokenizerFast, ElectraTokenizerFast

    from tests.conftest import EMBEDDED_DATA

    texts = SENTENCES + [
        json.loads(line)["text"] for line in
        (EMBEDDED_DATA / "yelp.jsonl").read_text(encoding="utf-8").splitlines()[:300]]
    original = Tokenizer.from_str(package["tokenizer_json"])
    original.no_padding()  # the package pads and truncates to 128 for sentence-transformers
    original.no_truncation()
    expected = [e.ids for e in original.encode_batch(texts)]
    for cls in (ElectraTokenizerFast, BertTokenizerFast):
        tokenizer = cls.from_pretrained(converted["path"])
        assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 100
        assert tokenizer(texts)["input_ids"] == expected, cls.__name__
        pairs = tokenizer(texts[:3], texts[3:6])
        assert pairs["input_ids"] == [e.ids for e in original.encode_batch(
            list(zip(texts[:3], texts[3:6])))]


# --------------------------------------------------------------------------- the cache

def test_second_call_reuses_the_cached_directory(converted, monkeypatch):
    path = converted["path"]
    files = sorted(os.listdir(path))
    mtimes = {n: os.stat(os.path.join(path, n)).st_mtime_ns for n in files}

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached directory must be reused, not converted again")

    monkeypatch.setattr(pk, "convert", no_conversion)
    started = time.monotonic()
    again, version = pk.packaged_checkpoint(cache_dir=str(converted["cache"]))
    seconds = time.monotonic() - started
    print(f"\nreuse: {seconds * 1000:.0f} ms (first conversion {converted['seconds']:.1f} s)")
    assert again == path and version == converted["version"] and seconds < 2.0
    assert {n: os.stat(os.path.join(path, n)).st_mtime_ns for n in files} == mtimes
    # Only the finished directory: no temporary ones left beside it.
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def test_an_incomplete_directory_is_converted_again(tmp_path, monkeypatch):
    version = pk.version()
    target = tmp_path / "packaged" / f"{pk.DISTRIBUTION}-{version}-electra-f{pk._FORMAT}"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # an interrupted copy, without source.json
    calls = []

    def fake_convert(model_zip, out_dir, package_version):
        assert not os.path.exists(out_dir)
        calls.append((model_zip, out_dir, package_version))
        return out_dir

    monkeypatch.setattr(pk, "convert", fake_convert)
    path, _ = pk.packaged_checkpoint(cache_dir=str(tmp_path))
    assert calls == [(pk.zip_path(), str(target), version)] and path == str(target)


def test_a_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pk, "save_electra", crash)
    with pytest.raises(pk.PackagedEncoderError, match="disk full"):
        pk.packaged_checkpoint(cache_dir=str(tmp_path))
    assert os.listdir(tmp_path / "packaged") == []


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ELECTRA_TFX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pk.cache_root() == str(tmp_path / "xdg" / "electra-tfx")
    monkeypatch.setenv("ELECTRA_TFX_CACHE", str(tmp_path / "own"))
    assert pk.cache_root() == str(tmp_path / "own")
