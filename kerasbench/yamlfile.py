"""YAML read the way DVC reads params.yaml, with the limits that keep a hostile file from exhausting memory or stack."""
from __future__ import annotations

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent

MAX_DEPTH = 32   # nesting of mappings and lists in a YAML file; params.yaml needs 3


def read_yaml(text: str):
    """Parse YAML exactly as DVC parses params.yaml (dvc.utils.serialize.parse_yaml), but refuse, before
    anything is built, aliases (`*name`: a few kilobytes of nested aliases expand to gigabytes) and
    nesting deeper than MAX_DEPTH (the composer recurses: 5,000 levels end in a RecursionError)."""
    depth = 0
    for event in YAML(typ="safe").parse(text):   # the event parser does not recurse
        if isinstance(event, AliasEvent):
            raise YAMLError("YAML aliases (*name) are not allowed: write every value out")
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YAMLError(f"nested deeper than {MAX_DEPTH} levels of mappings and lists")
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            depth -= 1
    return YAML(typ="safe").load(text)
