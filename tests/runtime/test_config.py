"""Connector configs: YAML shapes, secret references, masking, and the messages bad configs get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.config import MASK, load_connector_file
from hub.errors import ConfigError
from hub.runtime.validation import validate

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_flat_and_nested_properties_are_the_same(tmp_path: Path) -> None:
    flat = load_connector_file(
        _write(
            tmp_path,
            """
        name: a
        config: {connector.class: datagen, topic: t, value.size: 10}
    """,
        )
    )[0]
    nested = load_connector_file(
        _write(
            tmp_path,
            """
        name: a
        config:
          connector: {class: datagen}
          topic: t
          value: {size: 10}
    """,
        )
    )[0]
    assert (
        flat.config
        == nested.config
        == {"connector.class": "datagen", "topic": "t", "value.size": 10}
    )
    assert validate(nested).config.value_size == 10  # type: ignore[attr-defined]


def test_several_connectors_and_secret_references(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("# db\npassword = hunter2\n")
    monkeypatch.setenv("OUT_FILE", str(tmp_path / "out.txt"))
    specs = load_connector_file(
        _write(
            tmp_path,
            f"""
        connectors:
          - name: src
            config:
              connector.class: datagen
              topic: t
              database.password: "${{file:{secrets}:password}}"
          - name: sink
            config: {{connector.class: FileStreamSink, topics: t, file: "${{env:OUT_FILE}}"}}
    """,
        )
    )
    assert [s.name for s in specs] == ["src", "sink"]
    assert specs[0].config["database.password"] == "hunter2"
    assert specs[1].config["file"] == str(tmp_path / "out.txt")
    assert specs[0].masked()["database.password"] == MASK
    assert specs[1].masked()["file"] == MASK  # came from a reference: treated as secret


def test_env_references_may_have_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rest_references: None
) -> None:
    monkeypatch.setenv("HUB_TEST_TOPIC", "set")
    monkeypatch.delenv("HUB_TEST_SURELY_UNSET", raising=False)
    (spec,) = load_connector_file(_write(tmp_path, """
        name: a
        config: {connector.class: datagen, topic: "${env:HUB_TEST_TOPIC:-x}",
                 value.size: "${env:HUB_TEST_SURELY_UNSET:-12}"}
    """))  # fmt: skip
    assert spec.config["topic"] == "set"
    assert spec.config["value.size"] == "12"
    # with a default written in the file it is configuration: shown, not masked
    assert spec.masked()["value.size"] == "12"
    assert spec.masked()["topic"] == "set"
    # sent over REST it is a secret once read from the environment: a REST client had read
    # any variable of the worker's (AWS_SECRET_ACCESS_KEY...) through ${env:NAME:-x}
    from hub.runtime.worker import Worker

    rest = Worker.spec("a", {"connector.class": "datagen", "topic": "${env:HUB_TEST_TOPIC:-x}",
                             "value.size": "${env:HUB_TEST_SURELY_UNSET:-12}"})  # fmt: skip
    assert rest.masked()["topic"] == MASK and rest.masked()["value.size"] == "12"


BAD = [
    ("name: a\nconfig: {topic: t}", ["connector.class: required, not set"]),
    (
        "name: a\nconfig: {connector.class: nope}",
        ["connector.class='nope': no such connector", "installed:"],
    ),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t, rate: fast, keys: 0, tasks.max: 0}",
        [
            "rate = 'fast': Input should be a valid number",
            "keys = 0: Input should be greater than or equal to 1",
            "tasks.max = 0: Input should be greater than or equal to 1",
        ],
    ),
    ("name: a\nconfig: {connector.class: datagen}", ["topic: required, not set"]),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t, colour: red}",
        ["colour: unknown property for datagen"],
    ),
    ("name: a\nconfig: {connector.class: FileStreamSink, file: x}", ["a sink needs 'topics'"]),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t, errors.tolerance: some}",
        ["errors.tolerance = 'some': Input should be 'none' or 'all'"],
    ),
    (
        "name: a\nconfig: {connector.class: FileStreamSink, topics.regex: '(', file: x}",
        ["topics.regex = '(': not a valid regular expression"],
    ),
    (  # (accepted, then every task failed at its start)
        "name: a\nconfig: {connector.class: datagen, topic: t, value.converter: "
        "io.confluent.connect.avro.AvroConverter, key.converter: JSON}",
        [
            "value.converter = 'io.confluent.connect.avro.AvroConverter': not a converter hub has",
            "key.converter = 'JSON': not a converter hub has",
        ],
    ),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t, transforms: unwrap}",
        ["transforms.unwrap.type: required, not set"],
    ),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t, my.password: s3cret, bogus: 1}",
        ["bogus: unknown", "my.password: unknown"],
    ),
    ("name: a b\nconfig: {connector.class: datagen, topic: t}", ["name 'a b': use letters"]),
    ("- just\n- a list", ["expected a connector"]),
    ("name: a\nconfig: {connector.class: datagen, topic: t, rate: 1e999}", ["should be a finite"]),
    (
        "wrker: {x: 1}\nconnectors:\n  - {name: a, config: {connector.class: datagen, topic: t}}",
        ["unknown top-level key 'wrker'; the known keys are connectors"],
    ),
    (
        "name: a\nconfig: {connector.class: datagen, topic: t}\nconfg: {tasks.max: 2}",
        ["connector 'a': unknown key 'confg'; the known keys are name, config"],
    ),
    ("name: a\nconfig: [1]", ["'config' must be a mapping"]),
    ("name: a\nconfig: {x: '${env:HUB_TEST_SURELY_UNSET}'}", ["HUB_TEST_SURELY_UNSET is not set"]),
    ("name: [", ["not valid YAML (line 1"]),
    (  # (its failed records came back to it: 18 067 queue records in 6 s)
        "name: a\nconfig: {connector.class: FileStreamSink, file: x, topics.regex: 'ev\\..*', "
        "errors.tolerance: all, errors.deadletterqueue.topic.name: ev.dlq}",
        ["errors.deadletterqueue.topic.name: 'ev.dlq' is a topic the sink reads (topics.regex)"],
    ),
    (
        "name: a\nconfig: {connector.class: FileStreamSink, file: x, topics: 'a,dlq', "
        "errors.tolerance: all, errors.deadletterqueue.topic.name: dlq}",
        ["'dlq' is a topic the sink reads (topics)"],
    ),
    (  # (passed, then the task failed at its first record)
        "name: a\nconfig: {connector.class: datagen, topic: 'bad topic/x'}",
        ["topic: 'bad topic/x' is not a valid topic name", "ASCII letters"],
    ),
    (
        "name: a\nconfig: {connector.class: FileStreamSink, file: x, topics: 'ok,no way', "
        "errors.tolerance: all, errors.deadletterqueue.topic.name: ..}",
        [
            "topics: 'no way' is not a valid topic name",
            "errors.deadletterqueue.topic.name: '..' is not a valid topic name",
        ],
    ),
    *[  # (a truncate in one partition was applied out of order: rows written after it lost)
        (
            f"name: a\nconfig: {{connector.class: {cls}, database.hostname: h, "
            "database.user: u, topic.prefix: p, skipped.operations: none, "
            f"topic.creation.default.partitions: 4, {extra}}}",
            ["topic.creation.default.partitions = 4 with truncate events", "skipped.operations: t"],
        )
        for cls, extra in (("postgres", "database.dbname: d"), ("mysql", "database.server.id: 5"))
    ],
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_configs_get_clear_messages(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        for spec in load_connector_file(path):
            validate(spec)
    msg = str(err.value)
    assert path in msg
    for part in expected:
        assert part in msg
    assert "s3cret" not in msg  # a secret never appears in an error


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "name: a\nconfig: {connector.class: datagen, rate: x, keys: -1, foo: 1}"
    )
    with pytest.raises(ConfigError) as err:
        validate(load_connector_file(path)[0])
    lines = [ln for ln in str(err.value).splitlines() if ln.startswith("  - ")]
    assert len(lines) == 4  # rate, keys, foo, and the missing topic
    assert "connector 'a'" in str(err.value)


def test_known_but_unsupported_properties_warn(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "name: a\nconfig: {connector.class: datagen, topic: t, header.converter: x}"
    )
    v = validate(load_connector_file(path)[0])
    assert v.warnings and "header.converter is not supported yet" in v.warnings[0]


@pytest.mark.parametrize("cls", ["postgres", "mysql"])
def test_column_masking_is_taken_and_a_bad_one_refused(cls: str) -> None:
    # (refused until 2026-12-07, when the sources began to mask; never ignored: a warning and
    # the raw values captured, what the property was set to hide)
    from hub.config import ConnectorSpec

    base = {"connector.class": cls, "database.hostname": "h", "database.user": "u",
            "topic.prefix": "p"}  # fmt: skip
    base.update({"database.server.id": "5400"} if cls == "mysql" else {"database.dbname": "d"})
    for key in ("column.mask.with.8.chars", "column.truncate.to.2.chars",
                "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K",
                "column.mask.hash.v2.SHA-256.with.salt.x"):  # fmt: skip
        ok = validate(ConnectorSpec("a", {**base, key: "public.orders.note"}, "a.yaml"))
        assert not ok.warnings, ok.warnings
        with pytest.raises(ConfigError, match="not a valid regular expression"):
            validate(ConnectorSpec("a", {**base, key: "public.(orders"}, "a.yaml"))
    with pytest.raises(ConfigError, match="'SHA-9' is not a hash algorithm hub knows"):
        validate(ConnectorSpec("a", {**base, "column.mask.hash.SHA-9.with.salt.x": "a.b.c"},
                               "a.yaml"))  # fmt: skip
    ok = validate(ConnectorSpec("a", {**base, "snapshot.delay.ms": "1000"}, "a.yaml"))
    assert "snapshot.delay.ms is not supported yet" in ok.warnings[0]


@pytest.mark.parametrize("cls", ["postgres", "mysql"])
def test_debeziums_properties_that_change_what_is_captured_are_refused(cls: str) -> None:
    # (a review's: accepted with a warning and ignored, `hub validate` said ok: a Debezium
    # config's SELECT override, its tables to snapshot, its converters... captured other data)
    from hub.config import ConnectorSpec

    base = {"connector.class": cls, "database.hostname": "h", "database.user": "u",
            "topic.prefix": "p"}  # fmt: skip
    base.update({"database.server.id": "5400"} if cls == "mysql" else {"database.dbname": "d"})
    refused = {
        "snapshot.select.statement.overrides": "public.orders",
        "snapshot.select.statement.overrides.public.orders": "SELECT * FROM orders WHERE x",
        "converters": "boolean",
        "topic.naming.strategy": "com.example.Strategy",
        "schema.name.adjustment.mode": "avro",
        "field.name.adjustment.mode": "avro_unicode",
        "column.propagate.source.type": ".*",
        "datatype.propagate.source.type": ".+\\.VARCHAR",
        "heartbeat.topics.prefix": "hb",
    }
    own, other = "SchemaTopicNamingStrategy", "DefaultTopicNamingStrategy"
    if cls == "mysql":
        refused.update({"gtid.source.includes": "abc.*", "table.ignore.builtin": "false",
                        "enable.time.adjuster": "true"})  # fmt: skip
        own, other = other, own
    else:
        refused["publish.via.partition.root"] = "true"
    with pytest.raises(ConfigError) as err:
        validate(ConnectorSpec("a", {**base, **refused}, "a.yaml"))
    lines = [ln for ln in str(err.value).splitlines() if ln.startswith("  - ")]
    assert sorted(ln.split(":")[0][4:] for ln in lines) == sorted(refused)
    # Debezium's other strategy names topics <prefix>.<table> for this connector
    with pytest.raises(ConfigError, match="topic.naming.strategy: hub names"):
        validate(ConnectorSpec("a", {**base, "topic.naming.strategy":
                                     f"io.debezium.schema.{other}"}, "a.yaml"))  # fmt: skip
    # a value that asks for what hub does anyway: ignored with a warning, as before
    same = {"schema.name.adjustment.mode": "none",
            "topic.naming.strategy": f"io.debezium.schema.{own}",
            "heartbeat.topics.prefix": "__debezium-heartbeat", "converters": ""}  # fmt: skip
    ok = validate(ConnectorSpec("a", {**base, **same}, "a.yaml"))
    assert len(ok.warnings) == len(same)


def test_what_a_connector_would_not_do_as_asked_is_said() -> None:
    # (a review's: both taken, the union read; ignored without a word; a table named "${topic")
    from hub.config import ConnectorSpec

    both = {"connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b.*"}
    with pytest.raises(ConfigError, match="topics and topics.regex: a sink reads the topics of"):
        validate(ConnectorSpec("a", both, "a.yaml"))
    source = validate(ConnectorSpec("a", {"connector.class": "datagen", "topic": "t",
                                          "topics": "other"}, "a.yaml"))  # fmt: skip
    assert "topics and topics.regex are a sink's and are ignored here" in source.warnings[0]
    sink = {"connector.class": "duckdb", "topics": "a", "connection.url": "duckdb:/tmp/x.db"}
    for bad in ("${topic", "x_${topic}_${source.table"):
        with pytest.raises(ConfigError, match="a placeholder is not closed"):
            validate(ConnectorSpec("a", {**sink, "table.name.format": bad}, "a.yaml"))


def test_a_file_sink_given_a_directory_is_refused(tmp_path: Path) -> None:
    from hub.config import ConnectorSpec

    spec = {"connector.class": "FileStreamSink", "topics": "t", "file": str(tmp_path)}
    with pytest.raises(ConfigError, match=f"file = '{tmp_path}'.*is a directory: name a file"):
        validate(ConnectorSpec("a", spec, "a.yaml"))


def test_partitions_beyond_what_the_log_can_hold_open_are_refused() -> None:
    # (topic.creation.default.partitions: 30000 was taken; the topic was left half made and no
    # command could open the data directory again)
    from hub.config import ConnectorSpec

    spec = {"connector.class": "datagen", "topic": "t", "topic.creation.default.partitions": 30000}
    with pytest.raises(ConfigError, match="topic.creation.default.partitions"):
        validate(ConnectorSpec("a", spec, "a.yaml"))


def test_connect_class_names_resolve(tmp_path: Path) -> None:
    for cls, kind in [
        ("org.apache.kafka.connect.file.FileStreamSourceConnector", "source"),
        ("FileStreamSink", "sink"),
        ("file", "source"),
    ]:
        extra = "topics: t" if kind == "sink" else "topic: t"
        path = _write(tmp_path, f"name: a\nconfig: {{connector.class: {cls}, {extra}, file: x}}")
        assert validate(load_connector_file(path)[0]).cls.type == kind
    _ = os.sep


def _fresh_python(code: str) -> str:
    """What ``code`` prints in a new Python process (what a start imports)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT).stdout  # fmt: skip


@pytest.mark.parametrize(("name", "config", "want"), [
    ("FileStreamSink", {"topics": "t"}, "connectors.sink.file"),
    ("io.debezium.connector.mysql.MySqlConnector", {}, "connectors.source.mysql"),
    ("io.debezium.connector.postgresql.PostgresConnector", {}, "connectors.source.postgres"),
    ("duckdb", {"topics": "t"}, "connectors.sink.duckdb"),
])  # fmt: skip
def test_a_class_name_loads_its_plugin_alone(name: str, config: dict[str, str], want: str) -> None:
    """Start-up time: a connector named by its plugin's entry point or class (as Connect and
    Debezium configs name them) is found without importing every other plugin."""
    code = (
        "import sys, json; from importlib.metadata import entry_points; "
        "from hub.runtime.plugins import GROUP, resolve; "
        f"cls = resolve({name!r}, {config!r}); "
        "plugins = {ep.value.split(':')[0] for ep in entry_points(group=GROUP)}; "
        "print(json.dumps([cls.__module__, sorted(plugins & set(sys.modules))]))"
    )  # fmt: skip
    out = _fresh_python(code)
    module, loaded = json.loads(out)
    assert module.startswith(want)
    assert [m for m in loaded if not m.startswith(want)] == [], loaded


def test_the_builtin_connector_table_is_pyprojects_entry_points() -> None:
    """hub.runtime.plugins.BUILTIN (a built-in name resolved without reading the installed
    metadata) must name what pyproject.toml's entry points name."""
    import tomllib

    from hub.runtime.plugins import BUILTIN, GROUP

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        declared = tomllib.load(f)["project"]["entry-points"][GROUP]
    assert declared == BUILTIN


def test_a_builtin_connector_starts_without_reading_the_installed_metadata() -> None:
    """Start-up time: importlib.metadata (its import and the scan of every installed
    distribution, ~25 ms here) is not loaded to run a built-in connector, nor by the log's
    CRC (the crc32c package's own __init__ imports it)."""
    code = (
        "import sys; from hub.runtime.plugins import resolve; import hub.log; "
        "resolve('postgres', {}); resolve('duckdb', {'topics': 't'}); "
        "print('importlib.metadata' in sys.modules, 'argparse' in sys.modules)"
    )
    out = _fresh_python(code)
    assert out.split() == ["False", "False"]


def test_the_postgres_source_starts_without_pgoutputs_message_classes() -> None:
    """Start-up time: what a PostgreSQL source imports before it streams (the snapshot comes
    first) does not build pgoutput's message dataclasses (~8 ms); the stream imports them."""
    code = (
        "import sys; import connectors.source.postgres.connector, "
        "connectors.source.postgres.schemas, connectors.source.postgres.rowcodec; "
        "print(sorted(m for m in sys.modules if m.endswith('pgoutput')))"
    )
    out = _fresh_python(code)
    assert out.strip() == "[]"


def test_a_misspelt_secret_is_never_shown(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        name: pg
        config:
          connector.class: postgres
          topic.prefix: shop
          database.hostname: localhost
          database.user: me
          database.dbname: shop
          database.pasword: hunter2
          producer.override.ssl.keystore.pasword: s3cr3t
    """,
    )
    spec = load_connector_file(path)[0]
    with pytest.raises(ConfigError) as err:
        validate(spec)
    text = str(err.value)
    assert "hunter2" not in text and "s3cr3t" not in text
    assert "database.pasword: unknown property for postgres; did you mean database.password?" in (
        text
    )
    # the same property, kept by a worker whose config no longer validates, is masked too
    from hub.runtime.worker import ConnectorRuntime

    rt = ConnectorRuntime("pg", spec.config, None)
    assert rt.masked()["database.pasword"] == MASK
    assert rt.masked()["producer.override.ssl.keystore.pasword"] == MASK
    assert rt.masked()["database.user"] == "me"


def test_debeziums_schema_history_properties(tmp_path: Path) -> None:
    """A MySQL config copied from Debezium: the history's topic and options are hub's, its
    Kafka client settings warn (hub keeps the history in its own log), another history
    class is an error naming the property."""
    base = ("name: a\nconfig: {connector.class: mysql, database.user: u, topic.prefix: p, "
            "include.schema.changes: false, snapshot.mode: recovery, "
            "schema.history.internal.kafka.topic: schema-changes.shop, "
            "schema.history.internal.skip.unparseable.ddl: true")  # fmt: skip
    v = validate(load_connector_file(_write(
        tmp_path, base + ", schema.history.internal.kafka.bootstrap.servers: 'kafka:9092'}"
    ))[0])  # fmt: skip
    assert len(v.warnings) == 1
    assert "schema.history.internal.kafka.bootstrap.servers" in v.warnings[0]
    path = _write(tmp_path, base + ", schema.history.internal: "
                  "io.debezium.storage.file.history.FileSchemaHistory}")  # fmt: skip
    with pytest.raises(ConfigError, match="schema.history.internal"):
        validate(load_connector_file(path)[0])
    path = _write(tmp_path, base.replace("schema-changes.shop", "p.history") + "}")
    with pytest.raises(ConfigError, match="would hold this connector's events too"):
        validate(load_connector_file(path)[0])


def test_a_dead_letter_queue_on_a_source_is_said_to_be_ignored() -> None:
    # (accepted without a word and never used: the records its converter refused were
    # dropped, with nothing logged as errors.log.enable is off by default)
    from hub.config import ConnectorSpec

    config = {"connector.class": "datagen", "topic": "t", "errors.tolerance": "all",
              "errors.deadletterqueue.topic.name": "dlq"}  # fmt: skip
    v = validate(ConnectorSpec("gen", config, "test"))
    assert len(v.warnings) == 1 and "dead letter queues are for sinks" in v.warnings[0]


def test_debeziums_deprecated_mysql_snapshot_modes_are_their_new_names() -> None:
    # (a review's: schema_only, in many Debezium 2.x configs, was refused as an unknown mode)
    from connectors.source.mysql.config import MySqlSourceConfig
    from hub.config import ConnectorSpec

    base = {"connector.class": "mysql", "database.hostname": "h", "database.user": "u",
            "topic.prefix": "p", "database.server.id": "5400"}  # fmt: skip
    for old, new in (("schema_only", "no_data"), ("schema_only_recovery", "recovery")):
        valid = validate(ConnectorSpec("a", {**base, "snapshot.mode": old}, "a.yaml"))
        assert not valid.warnings
        assert MySqlSourceConfig.of(valid.raw).snapshot_mode == new


def test_list_items_are_cut_as_debeziums_regex_splitter_cuts_them() -> None:
    # (a review's: an escaped backslash before a comma had kept two items as one)
    from connectors.source.cdc.filters import patterns

    cut = [p.pattern for p in patterns("table.include.list", r"a\.b,x{1\,2}, c\\,d,e\.f")]
    assert cut == [r"a\.b", "x{1,2}", r"c\\", "d", r"e\.f"]
    assert patterns("table.include.list", "public.orders")[0].fullmatch("PUBLIC.Orders")


def test_a_signal_tables_columns_are_checked_as_debezium_reads_them() -> None:
    # (id and type first: read by position as Debezium does, whatever follows; id, type and
    # data elsewhere: refused, as a table an earlier hub read by name)
    from connectors.source.cdc.incremental import check_signal_columns

    for ok in (["id", "type", "data"], ["id", "type", "payload", "data"], ["a", "b", "c"], []):
        check_signal_columns("s.t", ok)
    for bad in (["pk", "id", "type", "data"], ["type", "id", "data"], ["id", "type"]):
        with pytest.raises(ConfigError, match="signal.data.collection: s.t"):
            check_signal_columns("s.t", bad)
