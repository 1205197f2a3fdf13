"""Where `electra-tfx run` records ML Metadata: SQLite by default, MySQL for shared installs.

    --metadata-mysql HOST[:PORT]/DATABASE     user and password from the environment:
                                              ELECTRA_TFX_MYSQL_USER, ELECTRA_TFX_MYSQL_PASSWORD
    --metadata-config FILE.pbtxt              any ml_metadata ConnectionConfig (text format),
                                              e.g. MySQL with ssl_options; a mysql block without
                                              user/password gets them from the same variables

The password is read from the environment so that it never lands in the config, which TFX
records (as the Trainer's custom_config) in the metadata store itself.
"""
import os
import re
from typing import Optional

from ml_metadata.proto import metadata_store_pb2

import pipeline_config

USER_ENV = "ELECTRA_TFX_MYSQL_USER"
PASSWORD_ENV = "ELECTRA_TFX_MYSQL_PASSWORD"
DEFAULT_MYSQL_PORT = 3306
_MYSQL = re.compile(r"^(?P<host>[^:/\s]+)(?::(?P<port>\d+))?/(?P<database>[A-Za-z0-9_$]+)$")


def mysql_config(address: str, environ=None) -> metadata_store_pb2.ConnectionConfig:
    """A MySQL ConnectionConfig from `HOST[:PORT]/DATABASE` and the credentials' variables."""
    match = _MYSQL.match(address.strip())
    if not match:
        raise pipeline_config.ConfigError(
            f"--metadata-mysql {address}: expected HOST[:PORT]/DATABASE, e.g. "
            "mlmd.internal:3306/electra_tfx")
    port = int(match.group("port") or DEFAULT_MYSQL_PORT)
    if not 0 < port < 65536:
        raise pipeline_config.ConfigError(
            f"--metadata-mysql {address}: port {port} is out of range")
    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host = match.group("host")
    config.mysql.port = port
    config.mysql.database = match.group("database")
    _fill_credentials(config, f"--metadata-mysql {address}", environ)
    return config


def config_from_file(path: str, environ=None) -> metadata_store_pb2.ConnectionConfig:
    """A ConnectionConfig from a text-format file."""
    from google.protobuf import text_format
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise pipeline_config.ConfigError(f"--metadata-config {path}: no such file")
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    config = metadata_store_pb2.ConnectionConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise pipeline_config.ConfigError(
            f"--metadata-config {path}: not a ml_metadata ConnectionConfig text proto ({e})"
        ) from None
    if config.WhichOneof("config") is None:
        raise pipeline_config.ConfigError(
            f"--metadata-config {path}: names no store (expected a mysql {{...}} or sqlite "
            "{...} block)")
    if config.HasField("mysql"):
        _fill_credentials(config, f"--metadata-config {path}", environ)
    return config


def connection_config(cfg: pipeline_config.PipelineConfig,
                      environ=None) -> metadata_store_pb2.ConnectionConfig:
    """The run's ConnectionConfig: the configured MySQL store, else SQLite in the output dir."""
    mysql, config_file = cfg.metadata.mysql, cfg.metadata.config_file
    if mysql and config_file:
        raise pipeline_config.ConfigError("--metadata-mysql and --metadata-config exclude each "
                                          "other; pass one")
    if mysql:
        return mysql_config(mysql, environ)
    if config_file:
        return config_from_file(config_file, environ)
    from tfx.orchestration import metadata
    return metadata.sqlite_metadata_connection_config(cfg.metadata_path)


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
    """Where the metadata is, for messages (never the password)."""
    if config.HasField("mysql"):
        return f"mysql://{config.mysql.host}:{config.mysql.port}/{config.mysql.database}"
    return config.sqlite.filename_uri


def _fill_credentials(config: metadata_store_pb2.ConnectionConfig, where: str,
                      environ: Optional[dict]) -> None:
    environ = os.environ if environ is None else environ
    if not config.mysql.user:
        user = environ.get(USER_ENV, "")
        if not user:
            raise pipeline_config.ConfigError(
                f"{where}: set the MySQL user in the environment variable {USER_ENV} (and the "
                f"password in {PASSWORD_ENV})")
        config.mysql.user = user
    if not config.mysql.password and environ.get(PASSWORD_ENV):
        config.mysql.password = environ[PASSWORD_ENV]
