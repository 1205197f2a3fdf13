"""Runs that must stop before training: bad rows (with --on-bad-rows fail) and a TFDV anomaly.
Through the `electra-tfx` command, as a user sees them (exit code, message, report)."""
import pytest

from tests import fixtures
from tests.e2e_support import TINY_ARGS, build_tiny_checkpoint, report_images, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory)


def test_bad_rows_fail_the_run_before_training(tmp_path, tiny_checkpoint):
    rows = fixtures.sentiment_rows(60, seed=5)
    train = fixtures.write_csv(tmp_path / "train.csv", rows[:30] + [("", "pos")] * 7 + rows[30:])
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint,
                   "--output", str(tmp_path / "out"), *TINY_ARGS)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "7 of 67 rows are bad; the run stopped before training (--on-bad-rows fail):" \
        in proc.stderr
    for row in range(32, 37):
        assert f"  - {train} row {row}: no value for 'text'" in proc.stderr
    assert "  ... and 2 more" in proc.stderr
    assert f"Every bad row, with its problem: {tmp_path / 'out' / 'quarantine' / '*.jsonl'}" \
        in proc.stderr
    assert "--on-bad-rows quarantine" in proc.stderr
    from pipeline.run_record import read_run
    record = read_run(str(tmp_path / "out" / "metadata.sqlite"))
    assert record.state_of("Transform") is None and record.state_of("Trainer") is None


def test_anomalies_stop_the_run_before_training(tmp_path, tiny_checkpoint):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(60, seed=3))
    # A column training never had: TFDV's anomaly, not a bad row.
    eval_rows = [(text, label, "web") for text, label in fixtures.sentiment_rows(20, seed=4)]
    evaluation = fixtures.write_csv(tmp_path / "eval" / "eval.csv", eval_rows,
                                    header=("text", "label", "source"))
    proc = run_cli("--train", str(train), "--eval", str(evaluation), "--checkpoint",
                   tiny_checkpoint, "--output", str(tmp_path / "out"), *TINY_ARGS)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "[eval] feature 'source': New column" in proc.stderr
    assert "stopped before Transform" in proc.stderr
    assert "Traceback" not in proc.stderr
    from pipeline.run_record import read_run
    record = read_run(str(tmp_path / "out" / "metadata.sqlite"))
    assert record.state_of("Transform") is None and record.state_of("Trainer") is None
    assert not (tmp_path / "out" / "serving").exists()
    # The report still shows the data and the anomaly that stopped the run.
    page = (tmp_path / "out" / "report" / "index.html").read_text()
    assert "Stopped at the anomaly gate" in page and 'id="anomalies"' in page and "source" in page
    assert "data_summary.png" in report_images(tmp_path / "out" / "report" / "index.html")
