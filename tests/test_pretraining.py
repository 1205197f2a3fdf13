"""ELECTRA pre-training (replaced-token detection): masking, labels, learning, export, resume,
and the pre-training corpus reader. Tiny models (1 layer, hidden 32) and fixture sentences."""
import json
import time
import types

import numpy as np
import pytest
import tensorflow as tf

import pipeline_config
from tests import fixtures
from trainer import tasks

TEXTS = [t for t, _ in fixtures.sentiment_rows(300, seed=11)]


def _config(**overrides) -> pipeline_config.PretrainConfig:
    settings = dict(steps=8, batch_size=16, learning_rate=2e-3, log_every=4,
                    checkpoint_every=2, max_seq_length=24, bucket_boundaries=[8, 12])
    settings.update(overrides)
    return pipeline_config.PretrainConfig(**settings)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    model = pipeline_config.ModelConfig(scratch_vocab_size=300, scratch_hidden_size=32,
                                        scratch_num_layers=1, scratch_num_heads=2,
                                        scratch_intermediate_size=64)
    return build_scratch_checkpoint(TEXTS, str(tmp_path_factory.mktemp("pt") / "start"), model)


@pytest.fixture(scope="module")
def vocab(tiny_checkpoint):
    from trainer import tokenization
    return tokenization.load_vocab(f"{tiny_checkpoint}/vocab.txt")


@pytest.fixture(scope="module")
def trained(tiny_checkpoint, tmp_path_factory):
    """40 steps on the fixture sentences, exported."""
    from trainer import pretraining
    root = tmp_path_factory.mktemp("trained")
    result = pretraining.pretrain(
        tiny_checkpoint, TEXTS, str(root / "out"), work_dir=str(root / "state"),
        config=_config(steps=40, learning_rate=3e-3, log_every=10, checkpoint_every=20),
        log_dir=str(root / "logs"), report=lambda line: None)
    return root, result


# --------------------------------------------------------------------------- masking, labels

def _batch(vocab):
    """64 rows of [CLS] words [SEP] [PAD]...; some words are [UNK]."""
    ids = {t: i for i, t in enumerate(vocab)}
    rng = np.random.default_rng(0)
    rows = np.zeros((64, 40), np.int32)
    for r in range(64):
        n = rng.integers(1, 38)
        rows[r, 0] = ids["[CLS]"]
        rows[r, 1:n + 1] = rng.integers(len(ids) // 2, len(ids), size=n)
        rows[r, n + 1] = ids["[SEP]"]
        if n > 4:
            rows[r, 2] = ids["[UNK]"]
    return tf.constant(rows), ids


def test_masks_15_percent_and_never_special_tokens_or_padding(vocab):
    from trainer import pretraining
    input_ids, ids = _batch(vocab)
    special = [ids[t] for t in pretraining.SPECIAL_TOKENS]
    candidates = tf.logical_and(input_ids != 0, pretraining.maskable(input_ids, special))
    masked, chosen = pretraining.mask_tokens(
        input_ids, candidates, tf.random.Generator.from_seed(3),
        mask_rate=0.15, mask_token_rate=0.85, mask_id=ids["[MASK]"])
    input_ids, masked, chosen, candidates = (x.numpy() for x in (input_ids, masked, chosen,
                                                                 candidates))
    assert not chosen[~candidates].any()
    assert not chosen[np.isin(input_ids, special)].any() and not chosen[input_ids == 0].any()
    per_row = chosen.sum(axis=1)
    expected = np.maximum(np.floor(candidates.sum(axis=1) * 0.15 + 0.5), 1)
    assert (per_row == expected).all()
    assert chosen.sum() / candidates.sum() == pytest.approx(0.15, abs=0.03)
    # Unchosen positions are untouched; chosen ones show [MASK] ~85% of the time, else
    # keep their token.
    assert (masked[~chosen] == input_ids[~chosen]).all()
    shown = masked[chosen] == ids["[MASK]"]
    assert (masked[chosen][~shown] == input_ids[chosen][~shown]).all()
    assert shown.mean() == pytest.approx(0.85, abs=0.08)


def test_labels_mark_only_changed_tokens():
    from trainer import pretraining
    original = tf.constant([[2, 10, 11, 12, 13, 3, 0]])
    chosen = tf.constant([[False, True, True, False, True, False, False]])
    sampled = tf.constant([[9, 10, 50, 51, 52, 9, 9]])  # position 1 sampled its own token
    disc_ids, labels = pretraining.replaced_token_labels(original, sampled, chosen)
    assert disc_ids.numpy().tolist() == [[2, 10, 50, 12, 52, 3, 0]]
    assert labels.numpy().tolist() == [[False, False, True, False, True, False, False]]


def test_sampling_follows_the_generator_and_avoids_special_tokens():
    from trainer import pretraining
    logits = tf.constant([[0.0, 0.0, 0.0, 5.0, 0.0], [50.0, 0.0, 0.0, 0.0, 1.0]] * 500)
    disallowed = tf.constant([True, False, False, False, False])
    sampled = pretraining.sample_tokens(logits, tf.random.Generator.from_seed(1), 1.0,
                                        disallowed).numpy()
    first, second = sampled[0::2], sampled[1::2]
    p = np.exp(5.0) / (np.exp(5.0) + 3)
    assert (first == 3).mean() == pytest.approx(p, abs=0.04)
    assert (second != 0).all() and (second == 4).mean() > 0.4  # 0 is disallowed


def test_a_generator_that_reproduces_the_input_replaces_nothing(tiny_checkpoint, vocab):
    """Sampled == original at every masked position: every label is 'original'."""
    from trainer import pretraining
    generator, discriminator = pretraining.build_models(tiny_checkpoint, _config(), seed=1)

    class Oracle(pretraining.ReplacedTokenDetection):
        def generator_logits(self, input_ids, attention_mask, token_type_ids, positions,
                             training):
            originals = tf.gather_nd(self.true_ids, positions)
            return tf.one_hot(originals, len(vocab), on_value=1e4, off_value=0.0)

    rtd = Oracle(generator, discriminator, vocab=vocab, config=_config())
    input_ids, _ = _batch(vocab)
    rtd.true_ids = input_ids
    out = rtd.forward(input_ids, tf.random.Generator.from_seed(2), training=False)
    assert float(out["num_masked"]) > 50
    assert float(out["num_replaced"]) == 0.0 and float(tf.reduce_sum(out["labels"])) == 0.0
    assert float(out["generator_correct"]) == float(out["num_masked"])


def test_generator_is_narrower_and_shares_the_embeddings(tiny_checkpoint, vocab):
    from trainer import pretraining
    generator, discriminator = pretraining.build_models(
        tiny_checkpoint, _config(generator_hidden_fraction=0.25), seed=1)
    assert generator.config.hidden_size == 8 and discriminator.config.hidden_size == 32
    assert generator.config.num_hidden_layers == 1
    assert generator.electra.embeddings is discriminator.electra.embeddings
    shared = discriminator.electra.embeddings.weight
    assert any(v is shared for v in generator.trainable_variables)
    # The generator's loss alone moves the shared token embeddings.
    rtd = pretraining.ReplacedTokenDetection(generator, discriminator, vocab=vocab,
                                             config=_config(disc_weight=0.0))
    input_ids, _ = _batch(vocab)
    with tf.GradientTape() as tape:
        out = rtd.forward(input_ids, tf.random.Generator.from_seed(2), training=False)
    gradient = tape.gradient(out["generator_loss"], shared)
    assert gradient is not None and float(tf.norm(tf.convert_to_tensor(gradient))) > 0


# --------------------------------------------------------------------------- training, export

def test_losses_fall_and_metrics_are_reported(trained):
    root, result = trained
    first, last = result.history[0], result.history[-1]
    assert result.complete and result.steps == 40 and len(result.history) == 4
    assert last["generator_loss"] < first["generator_loss"] - 0.3
    assert last["discriminator_loss"] < first["discriminator_loss"]
    assert last["discriminator_auc"] > 0.6 and last["generator_accuracy"] > first[
        "generator_accuracy"]
    assert result.tokens_per_second > 0 and result.num_texts == len(TEXTS)
    assert list((root / "logs").glob("events.out.tfevents.*"))


def test_exported_checkpoint_loads_with_huggingface_and_the_trainer(trained, tiny_checkpoint):
    from transformers import ElectraTokenizerFast, TFElectraForPreTraining

    from trainer import model as model_lib
    from trainer.checkpoint import validate_checkpoint_dir
    root, result = trained
    out = result.output_dir
    validate_checkpoint_dir(out)
    report = json.loads((root / "out" / "pretraining.json").read_text())
    assert report["steps"] == 40 and report["metrics"]["discriminator_auc"] > 0.6
    assert (root / "out" / "vocab.txt").read_text() == open(f"{tiny_checkpoint}/vocab.txt").read()
    ElectraTokenizerFast.from_pretrained(out)("a check")

    loaded = TFElectraForPreTraining.from_pretrained(out, use_safetensors=False)
    start = TFElectraForPreTraining.from_pretrained(tiny_checkpoint, use_safetensors=False)
    ids = tf.constant([[2, 30, 31, 32, 3]])
    assert not np.allclose(loaded(ids).logits.numpy(), start(ids).logits.numpy())
    classifier = model_lib.build_sequence_classifier(out, num_labels=2)
    embeddings = model_lib.encoder_of(classifier).embeddings.weight.numpy()
    np.testing.assert_allclose(embeddings, loaded.electra.embeddings.weight.numpy())


def test_the_trainer_uses_the_base_model(tiny_checkpoint, trained, monkeypatch):
    """run_fn swaps in fn_args.base_model (the pre-trained checkpoint) for the start one."""
    from trainer import run as run_lib
    from trainer.run_context import RunContext
    _, result = trained
    seen = {}

    class Stop(Exception):
        pass

    def fake_bind(context, transform_graph_uri):  # the context the model would train in
        seen["checkpoint_dir"] = context.checkpoint_dir
        raise Stop

    monkeypatch.setattr(run_lib.training, "bind", fake_bind)
    config = pipeline_config.resolve(pipeline_config.PipelineConfig(),
                                     pipeline_config.CheckpointFacts("local", 32),
                                     tasks.traits("text-classification"))
    context = RunContext(config=config, checkpoint_dir=tiny_checkpoint, lower_case=True)
    fn_args = types.SimpleNamespace(custom_config=context.to_custom_config(),
                                    base_model=result.output_dir, transform_output=None,
                                    hyperparameters=None)
    with pytest.raises(Stop):
        run_lib.run_fn(fn_args)
    assert seen["checkpoint_dir"] == result.output_dir != tiny_checkpoint


def test_an_interrupted_pretraining_resumes_from_its_checkpoint(tiny_checkpoint, tmp_path):
    from trainer import pretraining
    lines = []
    config = _config(steps=6, checkpoint_every=2, log_every=2)
    first = pretraining.pretrain(tiny_checkpoint, TEXTS[:64], str(tmp_path / "out"),
                                 work_dir=str(tmp_path / "state"), config=config,
                                 stop_after=3, report=lines.append)
    assert (first.steps, first.complete, first.output_dir) == (3, False, None)
    assert not (tmp_path / "out").exists()
    assert tf.train.latest_checkpoint(str(tmp_path / "state")).endswith("-3")
    # The time carried over is the first session's up to its last checkpoint (what a crash
    # would keep too). To tell carried time from the second session's own, the test makes
    # the first session look 1,000 s long: the second must report that plus its own time.
    progress_path = tmp_path / "state" / pretraining.PROGRESS_FILE
    progress = json.loads(progress_path.read_text())
    assert 0 < progress["seconds"] <= first.seconds
    carried = progress["seconds"] = 1000.0
    progress_path.write_text(json.dumps(progress))
    started = time.monotonic()
    second = pretraining.pretrain(tiny_checkpoint, TEXTS[:64], str(tmp_path / "out"),
                                  work_dir=str(tmp_path / "state"), config=config,
                                  report=lines.append)
    wall = time.monotonic() - started
    assert (second.resumed_from, second.steps, second.complete) == (3, 6, True)
    assert [h["step"] for h in second.history] == [4, 6]
    assert any("resumes at step 3/6" in line for line in lines)
    assert carried < second.seconds <= carried + wall  # the first session's time is carried over
    # A third call has nothing left to train and re-exports the finished model.
    third = pretraining.pretrain(tiny_checkpoint, TEXTS[:64], str(tmp_path / "out2"),
                                 work_dir=str(tmp_path / "state"), config=config,
                                 report=lines.append)
    assert (third.resumed_from, third.steps, third.history) == (6, 6, [])
    assert third.metrics == second.metrics


def test_bad_settings_and_empty_text_are_clear_errors(tiny_checkpoint, tmp_path):
    from trainer import pretraining
    with pytest.raises(pipeline_config.ConfigError, match="mask_rate"):
        pretraining.pretrain(tiny_checkpoint, TEXTS, str(tmp_path / "o"),
                             work_dir=str(tmp_path / "s"), config=_config(mask_rate=1.5))
    with pytest.raises(pipeline_config.ConfigError, match="no text to pre-train on"):
        pretraining.pretrain(tiny_checkpoint, ["", "  "], str(tmp_path / "o"),
                             work_dir=str(tmp_path / "s"), config=_config())


def test_long_texts_are_cut_into_several_sequences(tiny_checkpoint, vocab):
    from trainer import pretraining, tokenization
    encoder = tokenization.WordPieceEncoder(vocab, True)
    long_text = " ".join(TEXTS[:10])
    sequences = pretraining.encode_corpus(encoder, [long_text, "", "good movie"], 16,
                                          pack=False)
    pieces = encoder.tokenize(tf.constant([long_text])).flat_values.numpy().tolist()
    assert all(len(s) <= 16 and s[0] == encoder.cls_id and s[-1] == encoder.sep_id
               for s in sequences)
    body = [t for s in sequences[:-1] for t in s[1:-1]]
    assert body == pieces and len(sequences) == -(-len(pieces) // 14) + 1


def test_corpus_packing_fills_sequences_in_order(vocab):
    """Packed: consecutive texts share a sequence ([CLS] a [SEP] b [SEP] ...), none longer
    than max_seq_length, every text's pieces kept in order and each followed by [SEP]."""
    from trainer import pretraining, tokenization
    encoder = tokenization.WordPieceEncoder(vocab, True)
    # Texts of 1 to ~10 words, then one longer than a row: with several row lengths, some
    # rows end exactly full and some are closed because the next text is one token too long.
    texts = [" ".join(t.split()[:1 + i % len(t.split())]) for i, t in enumerate(TEXTS[:80])]
    texts.append(" ".join(TEXTS[:10]))

    def stream(seqs):
        return [t for s in seqs for t in s[1:].tolist()]

    for max_len in (24, 32, 48):
        sequences = pretraining.encode_corpus(encoder, texts, max_len)
        unpacked = pretraining.encode_corpus(encoder, texts, max_len, pack=False)
        assert all(len(s) <= max_len and s[0] == encoder.cls_id and s[-1] == encoder.sep_id
                   for s in sequences)
        # Same tokens and [SEP]s in the same order, fewer [CLS]: packing only regroups.
        assert stream(sequences) == stream(unpacked)
        assert len(sequences) < len(unpacked)
        # A sequence is closed only when the next text would not fit: the piece that opens
        # the next sequence (up to its first [SEP]) was too long for this one.
        for s, following in zip(sequences[:-1], sequences[1:]):
            opening_piece = following[1:].tolist().index(encoder.sep_id) + 1
            assert len(s) + opening_piece > max_len, max_len


# --------------------------------------------------------------------------- corpus, config

def test_corpus_reads_text_jsonl_and_csv(tmp_path):
    from components import pretrain_corpus
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("first line\n\nsecond line\n")
    fixtures.write_jsonl(tmp_path / "c" / "b.jsonl", [("third", "x")], keys=("body", "y"))
    fixtures.write_csv(tmp_path / "c" / "c.csv", [("fourth", "y")], header=("body", "y"))
    (tmp_path / "c" / "README.md").write_text("ignored")
    texts = pretrain_corpus.read_corpus(str(tmp_path / "c"), text_column="body")
    assert texts == ["first line", "second line", "third", "fourth"]
    assert pretrain_corpus.read_corpus(str(tmp_path / "c" / "*.txt")) == texts[:2]


def test_corpus_errors_name_the_file(tmp_path):
    from components import pretrain_corpus
    from components.input_files import InputError
    fixtures.write_jsonl(tmp_path / "b.jsonl", [("third", "x")], keys=("body", "y"))
    with pytest.raises(InputError, match=r"b\.jsonl: no text column 'text'.*'body'"):
        pretrain_corpus.read_corpus(str(tmp_path / "b.jsonl"))
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bad\.txt line 2: not UTF-8"):
        pretrain_corpus.read_corpus(str(tmp_path / "bad.txt"))
    with pytest.raises(InputError, match="does not exist"):
        pretrain_corpus.read_corpus(str(tmp_path / "nope.txt"))


def test_pretraining_is_on_by_default_only_for_scratch_checkpoints():
    cfg = pipeline_config.PipelineConfig()
    facts, traits = pipeline_config.CheckpointFacts, tasks.traits(cfg.task)
    assert pipeline_config.resolve(cfg, facts("scratch"), traits).pretrain.steps == \
        cfg.pretrain.scratch_steps > 0
    assert pipeline_config.resolve(cfg, facts("hub", 256), traits).pretrain.steps == 0
    cfg.pretrain.steps = 7
    assert pipeline_config.resolve(cfg, facts("hub", 256), traits).pretrain.steps == 7


def test_cli_pretraining_flags_and_their_errors():
    from pipeline import cli, runner
    parser_args = ["run", "--checkpoint", "some/model", "--pretrain-corpus", "x.txt"]
    import argparse
    parser = argparse.ArgumentParser()
    cli._add_run_parser(parser.add_subparsers(dest="command"))
    cfg = cli.config_from_args(parser.parse_args(parser_args))
    assert cfg.pretrain.corpus == "x.txt" and cfg.pretrain.steps is None
    resolved = pipeline_config.resolve(
        cfg, pipeline_config.CheckpointFacts("hub", 256), tasks.traits("text-classification"))
    with pytest.raises(pipeline_config.ConfigError, match="--pretrain-steps N"):
        runner.check_pretraining(resolved)
    cfg = cli.config_from_args(parser.parse_args(parser_args + ["--pretrain-steps", "5"]))
    runner.check_pretraining(pipeline_config.resolve(
        cfg, pipeline_config.CheckpointFacts("hub", 256), tasks.traits("text-classification")))
    cfg.pretrain.mask_token_rate = 2.0
    with pytest.raises(pipeline_config.ConfigError, match="mask_token_rate"):
        runner.check_pretraining(cfg)
