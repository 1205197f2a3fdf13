import trainer  # noqa: F401  (TFX extensions loaded lazily: trainer/lazy_tfx_extensions.py)
