"""One bounded, strict YAML loader for every YAML file loopscope reads.

    from loopscope.safe_yaml import SafeYAMLError, load_yaml_file, load_yaml_text
    data, text = load_yaml_file("plan.yaml", label="plan file")    # -> (object, the text)
    data = load_yaml_text(text, origin="<plan text>")

Plans, station files, queue files and the simulated lab's configuration all come through here.
On top of PyYAML's SafeLoader (no code, no object tags) it refuses, each with a one-line
`SafeYAMLError` (a ValueError) that starts with the file's name:

- a file bigger than ``max_bytes`` (default MAX_YAML_BYTES, 1 MB): checked from the file's
  size before reading, and never more than ``max_bytes + 1`` bytes are read;
- a file that is not UTF-8 text (a binary file, NUL bytes, control characters);
- a directory, a missing or unreadable file;
- YAML alias bombs ("billion laughs"): more than MAX_ALIASES alias uses, or a document that
  would expand to more than MAX_NODES nodes (aliases counted as the copies they stand for),
  or a recursive alias; nesting deeper than MAX_DEPTH;
- a mapping with the same key twice (the message names the line of both and the key);
- bad YAML syntax, with the line and column.

Numbers written with an exponent (``1e-3``, ``2.5e3``, ``2E6``) are floats, as in YAML 1.2
(PyYAML's YAML 1.1 rules read them as strings unless written ``1.0e-3``).

The alias and node counts are made while the document is composed, so composing is PyYAML's
Python code in either loader: with libyaml installed (the usual case) libyaml scans and parses
(StrictCSafeLoader), otherwise PyYAML's pure-Python SafeLoader does (StrictSafeLoader). A
1 MB file loads in about half a second with libyaml, a few seconds without.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

#: the largest YAML file read (plans, stations, queues, simulated-lab configurations), bytes
MAX_YAML_BYTES = 1_000_000
#: alias uses (``*name``) in one document
MAX_ALIASES = 1_000
#: nodes of the document with every alias expanded (what a program walking it would see)
MAX_NODES = 1_000_000
#: nesting depth of sequences and mappings
MAX_DEPTH = 100

MERGE_TAG = "tag:yaml.org,2002:merge"


class SafeYAMLError(ValueError):
    """A YAML file or text that is refused. One line; starts with the file's name.

    ``kind`` says why: missing, directory, unreadable, too_big, binary, syntax, duplicate_key,
    aliases, nodes, depth."""

    def __init__(self, message: str, kind: str = "syntax", origin: str = ""):
        super().__init__(message)
        self.kind = kind
        self.origin = origin


class _Refused(yaml.YAMLError):
    """Raised inside the loader; turned into a SafeYAMLError naming the origin."""

    def __init__(self, kind: str, message: str, mark=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.mark = mark


class _Strict:
    """Limits on aliases, expanded size and depth, and no duplicate keys: mixed in before a
    PyYAML composer and SafeConstructor."""

    max_aliases = MAX_ALIASES
    max_nodes = MAX_NODES
    max_depth = MAX_DEPTH

    def _start_counts(self) -> None:
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded node count

    # -- composing: count what the document expands to -----------------------------------
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise _Refused("aliases", f"more than {self.max_aliases} YAML aliases (*name); "
                                          f"refused (an alias bomb?)", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > self.max_depth:
            raise _Refused("depth", f"nested more than {self.max_depth} levels deep; refused", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        sizes = self._sizes
        try:
            if isinstance(node, SequenceNode):
                size = 1 + sum(sizes[id(child)] for child in node.value)
            elif isinstance(node, MappingNode):
                size = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            else:
                size = 1
        except KeyError:  # a child not finished composing: an alias to its own ancestor
            raise _Refused("aliases", "a recursive YAML alias (a node containing itself); refused",
                           mark) from None
        if size > self.max_nodes:
            raise _Refused("nodes", f"the document expands to more than {self.max_nodes:,} nodes "
                                    f"through its aliases; refused (an alias bomb?)", mark)
        sizes[id(node)] = size
        return node

    # -- constructing: a key given twice is an error -----------------------------------------
    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: SafeConstructor reports it
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise _Refused("duplicate_key", f"duplicate key {key!r} (first at line {first})",
                                   key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class StrictSafeLoader(_Strict, yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader with the checks of _Strict."""

    def __init__(self, stream):
        super().__init__(stream)
        self._start_counts()


if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class StrictCSafeLoader(_Strict, yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor,
                            yaml.resolver.Resolver):
        """libyaml scans and parses (in C, ~7x faster); composing stays in Python so that
        _Strict sees every node and alias."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._start_counts()

    LOADER = StrictCSafeLoader
else:  # pragma: no cover - PyYAML built without libyaml
    LOADER = StrictSafeLoader


# YAML 1.2 floats with an exponent: 1e-3, 2.5e3, -2E6 (YAML 1.1 wants a point and a signed
# exponent, 1.0e+3, and reads the others as strings)
for _loader in {StrictSafeLoader, LOADER}:
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+.0123456789"))


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message (with a snippet of the file) as one line."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = []
        if exc.problem_mark is not None:
            parts.append(_where(exc.problem_mark) + ":")
        if exc.problem:
            parts.append(str(exc.problem))
        if exc.context:
            ctx = str(exc.context)
            if exc.context_mark is not None and (exc.problem_mark is None
                                                 or exc.context_mark.line != exc.problem_mark.line):
                ctx += f" started at line {exc.context_mark.line + 1}"
            parts.append(f"({ctx})")
        if exc.note:
            parts.append(str(exc.note))
        text = " ".join(parts)
    else:
        text = str(exc)
    return " ".join(text.split())


def load_yaml_text(text: str, origin: str = "<text>", *, max_bytes: int = MAX_YAML_BYTES):
    """Parse YAML text with every check above; ``origin`` starts each error message."""
    if not isinstance(text, str):
        raise SafeYAMLError(f"{origin}: YAML must be text, not {type(text).__name__}", "binary", origin)
    if len(text) > max_bytes and len(text.encode("utf-8")) > max_bytes:
        raise SafeYAMLError(f"{origin}: {len(text.encode('utf-8')):,} bytes of YAML, more than the limit "
                            f"of {max_bytes:,} bytes; refused", "too_big", origin)
    if "\x00" in text:
        raise SafeYAMLError(f"{origin}: not a text file (it contains NUL bytes); refused", "binary", origin)
    loader = None
    try:
        loader = LOADER(text)
        return loader.get_single_data()
    except _Refused as exc:
        where = f" {_where(exc.mark)}:" if exc.mark is not None else ""
        raise SafeYAMLError(f"{origin}:{where} {exc.message}", exc.kind, origin) from None
    except yaml.reader.ReaderError as exc:
        raise SafeYAMLError(f"{origin}: not a text file: character #x{exc.character:04x} at "
                            f"position {exc.position} is not allowed in YAML ({exc.reason}); refused",
                            "binary", origin) from None
    except yaml.YAMLError as exc:
        raise SafeYAMLError(f"{origin}: not valid YAML: {_one_line(exc)}", "syntax", origin) from None
    except RecursionError:
        raise SafeYAMLError(f"{origin}: nested too deeply; refused", "depth", origin) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text_file(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, label: str = "file") -> str:
    """The file's text (UTF-8), refusing a file over max_bytes without reading all of it."""
    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise SafeYAMLError(f"{label} {p} does not exist", "missing", str(p)) from None
    except IsADirectoryError:
        raise SafeYAMLError(f"{label} {p} is a directory, not a file", "directory", str(p)) from None
    except OSError as exc:
        raise SafeYAMLError(f"{label} {p} cannot be read: {exc.strerror or exc}", "unreadable",
                            str(p)) from None
    with fh:
        try:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise SafeYAMLError(f"{label} {p} is a directory, not a file", "directory", str(p))
            if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
                raise SafeYAMLError(f"{label} {p} is {st.st_size:,} bytes, more than the limit of "
                                    f"{max_bytes:,} bytes for a YAML file; refused", "too_big", str(p))
            raw = fh.read(max_bytes + 1)
        except IsADirectoryError:
            raise SafeYAMLError(f"{label} {p} is a directory, not a file", "directory", str(p)) from None
        except OSError as exc:
            raise SafeYAMLError(f"{label} {p} cannot be read: {exc.strerror or exc}", "unreadable",
                                str(p)) from None
    if len(raw) > max_bytes:
        raise SafeYAMLError(f"{label} {p} is more than the limit of {max_bytes:,} bytes for a YAML "
                            f"file; refused", "too_big", str(p))
    if b"\x00" in raw:
        raise SafeYAMLError(f"{label} {p} is not a text file (it contains NUL bytes); refused",
                            "binary", str(p))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SafeYAMLError(f"{label} {p} is not a text file (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start} is not UTF-8); refused", "binary", str(p)) from None


def load_yaml_file(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, label: str = "file"):
    """(data, text) of a YAML file, with every check above. ``label`` names the file's kind in
    messages about the file itself ("plan file x.yaml does not exist")."""
    text = read_text_file(path, max_bytes=max_bytes, label=label)
    return load_yaml_text(text, origin=str(path), max_bytes=max_bytes), text
