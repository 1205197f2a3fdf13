"""Names of the files a Trainer run writes, for the modules that read them without TensorFlow
(the run report, the baseline)."""

# In the Trainer's model_run directory: {"history": {metric: [per epoch]}, "steps_per_epoch": N}.
HISTORY_FILE = "history.json"
