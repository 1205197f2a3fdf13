"""Trust rules: no remote code is executed, checkpoints come only from the configured id or
path (TensorFlow weights, never a pickle), and no pickle is ever read from a data path."""
import json
import pathlib
import pickle
import re

import pytest

import pipeline_config
from tests import fixtures
from trainer import checkpoint as ck

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# The project's own Python code (the tests are allowed to name what they forbid).
SOURCES = sorted(p for pattern in ("*.py", "pipeline/*.py", "trainer/**/*.py",
                                   "components/*.py", "bench/*.py", "scripts/*.py")
                 for p in REPO_ROOT.glob(pattern))


class _Payload:
    """Unpickling this creates `sentinel`: proof that a pickle was loaded."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.sentinel),))


def test_sources_never_enable_remote_code_or_unpickling():
    assert len(SOURCES) > 20
    offences = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"trust_remote_code\s*=\s*(?!False\b)", code):
                offences.append(f"{path}:{number}: trust_remote_code not False")
            # Auto* classes are where transformers would run a checkpoint's own code.
            if re.search(r"\bAuto(Model|Config|Tokenizer)\w*\.from_pretrained", code):
                offences.append(f"{path}:{number}: Auto* class loads by the checkpoint's auto_map")
            if re.search(r"\b(pickle|cPickle|dill|joblib|cloudpickle)\.loads?\(|read_pickle|"
                         r"allow_pickle\s*=\s*True|torch\.load\(", code):
                offences.append(f"{path}:{number}: unpickles")
    assert not offences, "\n".join(offences)


def test_hub_downloads_fetch_no_code_and_no_pickle():
    assert not [name for name in ck.HUB_FILES
                if name.endswith((".py", ".bin", ".pkl", ".pt", ".pth", ".ckpt"))]
    assert ck.TF_WEIGHTS in ck.HUB_FILES


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    config = pipeline_config.ModelConfig(scratch_vocab_size=100, scratch_hidden_size=16,
                                         scratch_num_layers=1, scratch_num_heads=2,
                                         scratch_intermediate_size=32)
    texts = [t for t, _ in fixtures.sentiment_rows(50)]
    return ck.build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("c") / "tiny"), config)


def test_checkpoint_with_custom_code_is_loaded_without_running_it(tiny_checkpoint, tmp_path):
    import shutil
    from trainer import model as model_lib
    path = tmp_path / "with_code"
    shutil.copytree(tiny_checkpoint, path)
    sentinel = tmp_path / "code_ran"
    (path / "modeling_evil.py").write_text(
        f"import pathlib\npathlib.Path({str(sentinel)!r}).touch()\n"
        "class EvilConfig: pass\nclass EvilModel: pass\nclass EvilTokenizer: pass\n")
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig",
                          "AutoModel": "modeling_evil.EvilModel",
                          "TFAutoModel": "modeling_evil.EvilModel",
                          "TFAutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (path / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["modeling_evil.EvilTokenizer", None]}
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    resolved = ck.resolve_checkpoint(str(path), work_dir=str(tmp_path),
                                     model_config=pipeline_config.ModelConfig(),
                                     texts=lambda: [])
    assert resolved.source == "local" and resolved.path == str(path)
    from trainer.checkpoints.scratch import check_tokenizer_loads
    check_tokenizer_loads(resolved.path)
    for build in (lambda: model_lib.build_sequence_classifier(resolved.path, 2),
                  lambda: model_lib.build_encoder(resolved.path),
                  lambda: model_lib.build_token_classifier(resolved.path, 3),
                  lambda: model_lib.build_span_extractor(resolved.path)):
        assert build().count_params() > 0  # ELECTRA's own classes, with the checkpoint's weights
    assert not sentinel.exists(), "the checkpoint's own code was executed"


def test_pickled_weights_are_refused_not_loaded(tiny_checkpoint, tmp_path):
    import shutil
    path = tmp_path / "torch_only"
    shutil.copytree(tiny_checkpoint, path)
    (path / "tf_model.h5").unlink()
    sentinel = tmp_path / "unpickled"
    (path / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(sentinel)))
    with pytest.raises(ck.CheckpointError, match="only PyTorch weights"):
        ck.resolve_checkpoint(str(path), work_dir=str(tmp_path),
                              model_config=pipeline_config.ModelConfig(), texts=lambda: [])
    assert not sentinel.exists()


@pytest.mark.parametrize("name", ["train.pkl", "train.pickle", "train.jsonl", "train.csv"])
def test_a_pickle_given_as_training_data_is_refused_not_loaded(tmp_path, capsys, name):
    from pipeline import runner
    sentinel = tmp_path / "unpickled"
    data = tmp_path / name
    data.write_bytes(pickle.dumps(_Payload(sentinel)))
    cfg = pipeline_config.PipelineConfig(output=str(tmp_path / "out"))
    cfg.data.train = str(data)
    assert runner.run_and_report(cfg) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "Traceback" not in err, err
    if not name.endswith((".jsonl", ".csv")):
        assert "unrecognised extension" in err
    assert not sentinel.exists()
