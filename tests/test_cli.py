"""The command line's shape: help everywhere, version, exit codes 0 / 1 / 2, config round trip."""

from __future__ import annotations

import json
import socket

import pytest

from classroom_mode import __version__
from classroom_mode.config import Config, parse_config

VERBS = [
    "simulate", "record", "auto-record", "label", "embed", "train", "evaluate", "classify",
    "pretrain", "surprise", "run", "serve", "bot", "demo", "config", "models", "outputs",
]  # fmt: skip


def test_help_lists_every_verb(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for verb in VERBS:
        assert verb in result.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(cli, verb):
    result = cli(verb, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_unknown_command_is_usage_error(cli):
    result = cli("no-such-verb")
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_unknown_option_is_usage_error(cli):
    result = cli("config", "check", "--no-such-option")
    assert result.exit_code == 2


def test_config_example_round_trips_through_check(cli):
    example = cli("config", "example")
    assert example.exit_code == 0
    checked = cli("config", "check", "-", "--json", input=example.stdout)
    assert checked.exit_code == 0, checked.output
    dumped = json.loads(checked.stdout)
    assert Config.model_validate(dumped) == parse_config(example.stdout)
    assert set(dumped["rooms"]["room-101"]["cameras"]) == {"front", "corner"}


def test_config_check_reports_every_problem_with_its_path(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rooms:\n"
        "  r1:\n"
        "    cameras:\n"
        "      cam: {source: {kind: sim, fps: -3}, colour: red}\n"
        "thresholds: {uncertain_below: 1.5}\n"
        "server: {port: many}\n"
    )
    result = cli("config", "check", bad)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    joined = "\n".join(lines)
    assert "rooms.r1.cameras.cam.source.fps" in joined
    assert "rooms.r1.cameras.cam.colour: unknown key" in joined
    assert "thresholds.uncertain_below" in joined
    assert "server.port" in joined
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rooms: [\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("surprise_level: 3\n", "surprise_level: unknown key"),
        ("modes: {only: {display_name: Only, ambience: x}}\n", "at least two modes"),
        ("encoding: {where: remote}\n", "remote_url is required"),
        ("rooms: {a: {cameras: {x: {}}}, b: {cameras: {x: {}}}}\n", "camera 'x' is in both rooms"),
        ("rooms: {a: {cameras: {x: {source: {kind: stream, url: 'ftp://cam'}}}}}\n", "must start with rtsp://"),
        ("thresholds: {surprise: {unusual: 5, anomaly: 4}}\n", "anomaly must be greater than unusual"),
        # a key written twice: a room, a camera, a whole section
        (
            "rooms: {a: {cameras: {x: {}}}}\nrooms: {b: {}}\n",
            "line 2, column 1: not valid YAML ('rooms' is written twice",
        ),
        ("rooms:\n  a: {cameras: {x: {}}}\n  a: {cameras: {y: {}}}\n", "'a' is written twice"),
        ("rooms: {a: {cameras: {x: {}, x: {interval_s: 2}}}}\n", "'x' is written twice"),
        # names no URL can reach
        ("rooms: {'a/b': {cameras: {x: {}}}}\n", "rooms: 'a/b': a room or camera name is"),
        ("rooms: {a: {cameras: {' x': {}}}}\n", "rooms.a.cameras: ' x': a room or camera name"),
        # a secret pasted where the name of its variable belongs
        ("discord: {token_env: MTA1.NzU2.x-Yz}\n", "discord.token_env: must be the NAME of an environment variable"),
        ("server: {api_token_env: 'sk live 123'}\n", "server.api_token_env: must be the NAME"),
        ("encoding: {where: remote, remote_url: 'https://u:pw@gpu:8765'}\n", "encoding.remote_url: must not hold"),
        ("discord: {api_url: 'http://admin@room:8765'}\n", "discord.api_url: must not hold credentials"),
        # a room and a camera named like a source kind keep their names in the path; only pydantic's tag goes
        ("rooms: {sim: {cameras: {file: {source: {kind: sim, fps: -3}}}}}\n", "rooms.sim.cameras.file.source.fps"),
    ],
)
def test_config_error_cases(cli, tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = cli("config", "check", path)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_missing_config_file_is_exit_2(cli, tmp_path):
    result = cli("config", "check", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


def test_missing_default_config_means_defaults(tmp_path, monkeypatch):
    from classroom_mode.config import load_config

    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert list(config.rooms) == ["demo-room"]
    assert config.rooms["demo-room"].cameras["sim-cam"].source.kind == "sim"
    assert set(config.modes) == {"empty", "solo", "group", "presentation"}


def test_secrets_come_from_the_environment(monkeypatch):
    from classroom_mode.config import secret

    monkeypatch.setenv("CM_TEST_TOKEN", "s3cret")
    assert secret("CM_TEST_TOKEN") == "s3cret"
    monkeypatch.setenv("CM_TEST_TOKEN", "")
    assert secret("CM_TEST_TOKEN") is None
    assert secret(None) is None


@pytest.mark.parametrize("name", ["[bold]room", "probes/[red]p1", "a[/x]b", "[/]", "[link=http://x]y"])
def test_user_text_is_never_rich_markup(cli, tmp_path, name):
    # a config file named like markup: every message that names it prints the name as it is
    path = tmp_path / name.replace("/", "_")
    path.write_text("rooms: [\n")
    result = cli("config", "check", path)
    assert result.exit_code == 2 and str(path) in result.stderr and "Traceback" not in result.output
    path.write_text("rooms: {}\n")
    ok = cli("config", "check", path)
    assert ok.exit_code == 0 and str(path) in ok.stdout, ok.output


def test_config_check_json_never_prints_a_camera_password(cli, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "rooms: {r: {cameras: {door: {source: {kind: stream, url: 'rtsp://admin:hunter2@10.0.0.5/live'}}}}}\n"
    )
    result = cli("config", "check", path, "--json")
    assert result.exit_code == 0 and "hunter2" not in result.output
    assert (
        json.loads(result.stdout)["rooms"]["r"]["cameras"]["door"]["source"]["url"] == "rtsp://admin:***@10.0.0.5/live"
    )


def test_serve_on_a_busy_port_is_one_line_and_exit_1(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = cli("serve", "--port", port, "--no-encode")
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}: the address is in use" in result.stderr
    assert "serving on" not in result.stderr and "Traceback" not in result.output


def test_a_path_whose_folder_is_a_file_is_one_line(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{database: {tmp_path / 'file' / 'h.db'}, cache: {tmp_path / 'file' / 'cache'}}}\n")
    for args in (["run", "-c", config, "--windows", "1"], ["serve", "-c", config, "--no-encode", "--port", "1"]):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "a folder on its way is a file" in result.stderr and "Traceback" not in result.output
