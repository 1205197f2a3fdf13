"""The console of a CLI command (trainer/console.py): without -v, the known third-party noise
(NOISE) is dropped, whether TensorFlow's C++ writes it to file descriptor 2 or a library
logs or warns it, and every other line passes; with -v all of it is shown. The default log of
a whole run is checked in tests/test_pipeline_e2e.py (test_default_log_is_quiet_with_progress).
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT
from trainer import console
from trainer.console import NOISE

# Each source of noise, made the way the libraries make it, in a fresh interpreter.
_SCRIPT = textwrap.dedent("""
    import os, sys, warnings
    from trainer import console
    with console.output(verbose=sys.argv[1] == "-v"):
        import tensorflow  # its C++ registers the CUDA plugins: "Unable to register ..."
        os.write(2, b"2026-01-01 00:00:00.000000: E tensorflow/core/util/util.cc:131] oneDNN "
                 b"supports DT_INT64 only on platforms with AVX-512. Falling back\\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                 b"written to STDERR\\n")
        from transformers.utils import logging as hf_logging
        hf_logging.get_logger("transformers.modeling_tf_utils").warning(
            "All model checkpoint layers were used when initializing TFElectraModel.")
        # TFMA's 0/0 at thresholds no example reaches, raised from TFMA's module.
        exec("import numpy as np\\nnp.array([0.0]) / np.array([0.0])",
             {"__name__": "tensorflow_model_analysis.metrics.confusion_matrix_metrics"})
        print("electra-tfx: a line of our own", file=sys.stderr, flush=True)
        os.write(2, b"a C++ error nobody listed\\n")
        warnings.warn("a warning nobody listed", UserWarning)
    print("stderr restored", file=sys.stderr)
""")


def _run(flag: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    env.pop("TRANSFORMERS_VERBOSITY", None)
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, flag], capture_output=True,
                          text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _noise(log: str):
    return [line for line in log.splitlines() if any(re.search(p, line) for p in NOISE)]


@pytest.fixture(scope="module")
def quiet_log():
    return _run("")


def test_default_drops_the_noise_and_keeps_other_lines(quiet_log):
    assert not _noise(quiet_log), quiet_log
    assert "absl::InitializeLog" not in quiet_log, quiet_log
    for line in ("electra-tfx: a line of our own", "a C++ error nobody listed",
                 "UserWarning: a warning nobody listed", "stderr restored"):
        assert line in quiet_log, quiet_log


def test_verbose_shows_the_third_party_output(quiet_log):
    log = _run("-v")
    for shown in ("Unable to register cuFFT factory", "oneDNN supports DT_INT64",
                  "before absl::InitializeLog() is called",
                  "All model checkpoint layers were used",
                  "RuntimeWarning: invalid value encountered in divide"):
        assert shown in log, log
    assert len(_noise(log)) >= 5
    for line in ("electra-tfx: a line of our own", "a C++ error nobody listed"):
        assert line in log


def test_a_crash_keeps_its_last_words():
    """The filter outlives the command: what a fatal C++ error writes just before abort()
    is not lost with the process."""
    script = ("import os\nfrom trainer import console\nwith console.output(verbose=False):\n"
              "    os.write(2, b'F tensorflow/core/x.cc:1] Check failed: a fatal error\\n')\n"
              "    os.abort()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert proc.returncode != 0
    assert "Check failed: a fatal error" in proc.stderr


def test_eta_and_times():
    assert console.seconds_text(21.4) == "21 s"
    assert console.seconds_text(185) == "3 min 05 s"
    assert console.eta_text(10.0, 5, 20) == "ETA 30 s"
    assert console.eta_text(10.0, 0, 20) == "" and console.eta_text(10.0, 5, None) == ""


def test_keras_progress_names_the_model(capsys):
    """Under the CLI's console, a fit prints this project's lines (named, with the epochs'
    metrics) and not Keras' own; elsewhere Keras prints as before."""
    import numpy as np
    import tf_keras

    from trainer import keras_progress
    assert keras_progress.fit_options("Training") == ([], 2)
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 2)), np.zeros((8, 1))
    with console.output(verbose=False):
        callbacks, verbose = keras_progress.fit_options("Simple baseline", every_epoch=False)
        assert verbose == 0
        model.fit(x, y, batch_size=4, epochs=2, callbacks=callbacks, verbose=verbose)
        callbacks, verbose = keras_progress.fit_options("Training")
        model.fit(x, y, batch_size=4, epochs=2, callbacks=callbacks, verbose=verbose)
    out = capsys.readouterr().out
    assert re.search(r"^  Simple baseline: 2 epochs in \d+ s: loss 0$", out, re.M), out
    assert re.search(r"^  Training: Epoch 1/2: loss 0 \(\d+ s, ETA \d+ s\)$", out, re.M), out
    assert re.search(r"^  Training: Epoch 2/2: loss 0 \(\d+ s\)$", out, re.M), out
    assert "Epoch 1/2\n" not in out
