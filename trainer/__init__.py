from trainer import lazy_tfx_extensions

lazy_tfx_extensions.defer()  # before anything imports tfx.v1 (see that module)
