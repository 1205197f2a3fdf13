"""ML Metadata connection: SQLite by default, MySQL from --metadata-mysql or a ConnectionConfig
file, credentials from the environment only."""
import re

import pytest

import pipeline_config
from pipeline import cli, metadata_config
from pipeline_config import ConfigError

CREDENTIALS = {metadata_config.USER_ENV: "tfx", metadata_config.PASSWORD_ENV: "s3cret"}


def _cfg(**metadata):
    cfg = pipeline_config.PipelineConfig(output="/tmp/electra-out")
    for key, value in metadata.items():
        setattr(cfg.metadata, key, value)
    return cfg


def test_sqlite_in_the_output_directory_is_the_default():
    config = metadata_config.connection_config(_cfg())
    assert config.WhichOneof("config") == "sqlite"
    assert config.sqlite.filename_uri == "/tmp/electra-out/metadata.sqlite"


def test_mysql_address_and_credentials_from_the_environment():
    config = metadata_config.connection_config(_cfg(mysql="mlmd.internal:3307/electra_tfx"),
                                               CREDENTIALS)
    assert (config.mysql.host, config.mysql.port, config.mysql.database) == (
        "mlmd.internal", 3307, "electra_tfx")
    assert (config.mysql.user, config.mysql.password) == ("tfx", "s3cret")
    assert metadata_config.describe(config) == "mysql://mlmd.internal:3307/electra_tfx"
    assert metadata_config.mysql_config("db/m", CREDENTIALS).mysql.port == 3306


@pytest.mark.parametrize("address, message", [
    ("mlmd.internal:3306", "expected HOST[:PORT]/DATABASE"),
    ("host:99999/db", "out of range"),
    ("host:port/db", "expected HOST[:PORT]/DATABASE"),
])
def test_bad_mysql_addresses_are_config_errors(address, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        metadata_config.mysql_config(address, CREDENTIALS)


def test_mysql_without_a_user_names_the_variable():
    with pytest.raises(ConfigError, match=metadata_config.USER_ENV):
        metadata_config.mysql_config("db:3306/m", {})


def test_connection_config_file(tmp_path):
    path = tmp_path / "mlmd.pbtxt"
    path.write_text('mysql { host: "db" port: 3306 database: "m" '
                    'ssl_options { ca: "/etc/ca.pem" } }\n')
    config = metadata_config.connection_config(_cfg(config_file=str(path)), CREDENTIALS)
    assert config.mysql.ssl_options.ca == "/etc/ca.pem"
    assert config.mysql.user == "tfx" and config.mysql.password == "s3cret"
    # A file that sets its own user keeps it.
    path.write_text('mysql { host: "db" database: "m" user: "own" }')
    assert metadata_config.config_from_file(str(path), CREDENTIALS).mysql.user == "own"


@pytest.mark.parametrize("text, message", [
    ("mysql { hots: 'db' }", "not a ml_metadata ConnectionConfig"),
    ("", "names no store"),
])
def test_bad_connection_config_files(tmp_path, text, message):
    path = tmp_path / "mlmd.pbtxt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        metadata_config.config_from_file(str(path))
    with pytest.raises(ConfigError, match="no such file"):
        metadata_config.config_from_file(str(tmp_path / "absent.pbtxt"))


def test_both_flags_exclude_each_other():
    with pytest.raises(ConfigError, match="exclude each other"):
        metadata_config.connection_config(_cfg(mysql="db/m", config_file="x.pbtxt"), CREDENTIALS)


def test_the_run_record_reads_any_connection_config(tmp_path):
    from pipeline.run_record import open_store, run_ids
    path = tmp_path / "mlmd.pbtxt"
    path.write_text(f'sqlite {{ filename_uri: "{tmp_path / "m.sqlite"}" connection_mode: 3 }}')
    assert run_ids(open_store(metadata_config.config_from_file(str(path)))) == []


def test_cli_flags_reach_the_config_and_bad_ones_exit_2(tmp_path, capsys, monkeypatch):
    parser = cli.argparse.ArgumentParser()
    cli._add_run_parser(parser.add_subparsers(dest="command"))
    cfg = cli.config_from_args(parser.parse_args(["run", "--metadata-mysql", "db:3306/m"]))
    assert cfg.metadata.mysql == "db:3306/m"
    monkeypatch.delenv(metadata_config.USER_ENV, raising=False)
    code = cli.main(["run", "--metadata-mysql", "db:3306/m", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and metadata_config.USER_ENV in err and "Traceback" not in err
