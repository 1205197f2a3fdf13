"""The pieces of checkpoint resolution (trainer/checkpoint.py chooses between them).

    files.py      file names, special tokens, CheckpointError, read_lower_case, CheckpointInfo
                  (TensorFlow-free: the runner and the report read checkpoints through it)
    validate.py   validate_checkpoint_dir: is it a loadable TensorFlow ELECTRA directory?
    hub.py        hub ids: the local HuggingFace cache, then the hub, within a deadline
    scratch.py    a small ELECTRA built from scratch (cached by a hash of text and settings)
    wordpiece.py  the WordPiece vocabulary a scratch checkpoint learns from the training text
    temp_dirs.py  clean-up of the temporary directories killed builds left
"""
