"""The run report (OUTPUT/report/index.html), the model card beside the pushed model, and
the past-runs views of the CLI (`electra-tfx runs`, `electra-tfx report`)."""
import logging
import os
import sys
from typing import Optional


def write_after_run(cfg, checkpoint=None, since: Optional[float] = None,
                    announce: bool = True) -> Optional[str]:
    """Writes the report of the run that just ended (and the model card when it pushed);
    prints where they are, if `announce` (else the run's summary does). `since` (epoch
    seconds): do nothing unless a run started after it (a run that failed before the pipeline
    started left no record). Never raises: the report
    must not turn a finished run into a failed one."""
    try:
        from pipeline import run_record
        from pipeline.report import collect, html_report, model_card
        if not os.path.exists(cfg.metadata_path):
            return None
        store = run_record.open_store(cfg.metadata_path)
        ids = run_record.run_ids(store)
        if not ids:
            return None
        latest = store.get_context_by_type_and_name("pipeline_run", ids[-1])
        if since is not None and latest.create_time_since_epoch < since * 1000:
            return None
        _write_predictions(cfg, ids[-1])
        data = collect.collect(cfg.metadata_path, ids[-1], cfg.output_dir, checkpoint, cfg)
        html_report.write_report(data, cfg.output_dir)
        index = os.path.join(html_report.report_root(cfg.output_dir), html_report.INDEX)
        if announce:
            print(f"Run report: {index}", flush=True)
        if data.pushed_path and os.path.isdir(data.pushed_path):
            paths = model_card.write_model_card(data, data.pushed_path)
            if announce:
                print(f"Model card: {paths['md']}", flush=True)
        return index
    except Exception as exc:  # noqa: BLE001
        logging.getLogger(__name__).debug("report failed", exc_info=True)
        print(f"electra-tfx: could not write the run report: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)
        return None


def _write_predictions(cfg, run_id: str) -> None:
    """The candidate's predictions on the eval split, for the report's examples and
    reliability diagram (a report without them is still written)."""
    try:
        from pipeline import example_predictions
        from pipeline.report.model import predictions_file
        run_output = os.path.dirname(os.path.abspath(cfg.metadata_path))
        example_predictions.write_predictions(cfg.metadata_path, run_id, cfg,
                                              predictions_file(run_output, run_id))
    except Exception as exc:  # noqa: BLE001
        logging.getLogger(__name__).debug("predictions failed", exc_info=True)
        print(f"electra-tfx: the report has no example predictions: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)


__all__ = ["write_after_run"]
