"""loopscope.safe_yaml: the one YAML loader, with both of its parsers (libyaml and pure Python)."""
from __future__ import annotations

import math
import os
import tracemalloc

import pytest

from loopscope import safe_yaml
from loopscope.safe_yaml import (MAX_ALIASES, MAX_NODES, MAX_YAML_BYTES, SafeYAMLError, load_yaml_file,
                                 load_yaml_text)

LOADERS = [safe_yaml.StrictSafeLoader] + ([safe_yaml.LOADER] if safe_yaml.LOADER is not safe_yaml.StrictSafeLoader
                                          else [])


@pytest.fixture(params=LOADERS, ids=lambda c: c.__name__)
def loader(request, monkeypatch):
    monkeypatch.setattr(safe_yaml, "LOADER", request.param)
    return request.param


def refused(text, kind, *words):
    with pytest.raises(SafeYAMLError) as err:
        load_yaml_text(text, "f.yaml")
    assert err.value.kind == kind, str(err.value)
    message = str(err.value)
    assert message.startswith("f.yaml:") and "\n" not in message
    for w in words:
        assert w in message, (w, message)
    return message


def test_plain_documents(loader):
    assert load_yaml_text("a: 1\nb: [x, 2.5, .inf]\nc: {d: null}\n") == {"a": 1, "b": ["x", 2.5, math.inf],
                                                                        "c": {"d": None}}
    assert load_yaml_text("") is None
    base = load_yaml_text("base: &b {x: 1, y: 2}\nuse: *b\nmerged: {<<: *b, x: 3}\n")
    assert base["use"] == {"x": 1, "y": 2} and base["merged"] == {"x": 3, "y": 2}  # merge keys may override


def test_exponent_numbers_are_floats(loader):
    data = load_yaml_text("a: [1e-3, 2.5e3, -2E6, +1e+2, .5e-1, 1.0e+3, '1e3', e3, 1e, 10, 0x10]\n")
    assert data["a"] == [1e-3, 2500.0, -2e6, 100.0, 0.05, 1000.0, "1e3", "e3", "1e", 10, 16]


@pytest.mark.parametrize("text, words", [
    ("a: 1\nb: 2\na: 3\n", ["line 3", "duplicate key 'a'", "first at line 1"]),
    ("outer:\n  x: 1\n  y: 2\n  x: 1\n", ["line 4", "duplicate key 'x'"]),
    ("- {k: 1, k: 2}\n", ["duplicate key 'k'"]),
    ("{1: a, 1.0: b}\n", ["duplicate key 1.0"]),
])
def test_duplicate_keys(loader, text, words):
    refused(text, "duplicate_key", *words)


def billion_laughs(levels=9, width=10):
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bombs(loader):
    tracemalloc.start()
    try:
        refused(billion_laughs(), "nodes", "alias bomb", f"{MAX_NODES:,}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    refused("a: &a [x]\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", "aliases", f"{MAX_ALIASES}")
    refused("a: &a [b, *a]\n", "aliases", "recursive")
    refused("a: &a {b: *a}\n", "aliases", "recursive")
    # aliases well within the limits are fine
    assert load_yaml_text(billion_laughs(levels=3))["a3"][0][0][0] == ["lol"] * 10


@pytest.mark.parametrize("text, kind, words", [
    ("a: [1\n", "syntax", ["not valid YAML", "line 2"]),
    ("title: !!python/object/apply:os.system ['echo hi']\n", "syntax", ["not valid YAML", "constructor"]),
    ("a: 1\n---\nb: 2\n", "syntax", ["not valid YAML"]),
    ("x: *nope\n", "syntax", ["undefined alias"]),
    ("a: b\x07c\n", "binary", ["not a text file", "#x0007"]),
    ("a: b\x00c\n", "binary", ["NUL"]),
    ("v: " + "[" * 150 + "]" * 150 + "\n", "depth", ["nested"]),
])
def test_refused_text(loader, text, kind, words):
    refused(text, kind, *words)


def test_text_over_the_limit():
    refused("a: [" + "0, " * (MAX_YAML_BYTES // 3 + 10) + "0]\n", "too_big", f"{MAX_YAML_BYTES:,}")


def test_files(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("\ufeffa: 1\n", encoding="utf-8")  # a byte-order mark is fine
    assert load_yaml_file(good) == ({"a": 1}, "a: 1\n")
    cases = {
        "missing": (tmp_path / "nope.yaml", "does not exist"),
        "directory": (tmp_path, "is a directory"),
    }
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: caf\xe9\n".encode("latin-1"))
    cases["binary"] = (latin, "byte 0xe9 at offset 6 is not UTF-8")
    binary = tmp_path / "data.bin"
    binary.write_bytes(os.urandom(4096) + b"\x00")
    cases["binary_nul"] = (binary, "not a text file")
    for kind, (path, words) in cases.items():
        with pytest.raises(SafeYAMLError) as err:
            load_yaml_file(path, label="plan file")
        assert err.value.kind == kind.split("_")[0]
        assert str(err.value).startswith(f"plan file {path}") and words in str(err.value)
        assert "\n" not in str(err.value)


def test_big_file_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "w") as fh:
        for _ in range(50):
            fh.write("# " + "x" * 1_000_000 + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(SafeYAMLError) as err:
            load_yaml_file(big, label="plan file")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.kind == "too_big" and f"{big.stat().st_size:,} bytes" in str(err.value)
    assert peak < 1_000_000  # decided from the file's size; nothing read


def test_stream_over_the_limit_reads_at_most_the_limit(tmp_path):
    """A file whose size the system does not report (a pipe): at most limit + 1 bytes are read."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    import threading

    def feed():
        with open(fifo, "wb") as fh:
            try:
                for _ in range(30):
                    fh.write(b"# " + b"x" * 100_000 + b"\n")
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(SafeYAMLError) as err:
        load_yaml_file(fifo, max_bytes=1_000_000)
    writer.join(timeout=30)
    assert err.value.kind == "too_big" and "more than the limit of 1,000,000 bytes" in str(err.value)
