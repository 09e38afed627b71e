#!/usr/bin/env python3
"""Checks captured MQTT messages against the ParkGuard AsyncAPI contract.

Usage: validate.py ASYNCAPI_YAML MESSAGES_JSONL

Each non-blank line of MESSAGES_JSONL is {"topic": "...", "payload": "<raw payload>"};
optional "qos" (0-2) and "retain" (bool) fields, when present, are checked against the mqtt
bindings of the channel's operation.
Every topic must match a channel address of the AsyncAPI document; its parameters must
match their `x-pattern` (and `enum`), a parameter with a `location` of the form
`$message.payload#/ptr` must equal that payload value, and the payload must validate
against the channel message's JSON Schema. A message without a payload schema (the `rtt`
probe) must have an empty payload; every other payload must be JSON.

Prints one line per failing message, then `contract: N passed, M failed`.
Exit status: 0 if every message passed, 1 if any failed, 2 on a usage or document error.
Needs only the standard library, `jsonschema` (4.10 or later) and PyYAML.
"""

import base64
import copy
import json
import re
import sys

import jsonschema
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_REF_PREFIX = "#/components/schemas/"
DEFS_REF_PREFIX = "#/$defs/"
PAYLOAD_LOCATION = "$message.payload#"


class DocumentError(Exception):
    """The AsyncAPI document is not what this script can use."""


# --- Regular expressions with ECMA-262 `$` -------------------------------------------------

def ecma_to_python(pattern):
    """Rewrites every unescaped `$` outside a character class to `\\Z`.

    JSON Schema patterns are ECMA-262 regexes, where `$` matches only at the very end of the
    string; Python's `$` also matches before a final newline, so "gate\\n" would pass
    `^[a-z0-9-]{1,32}$`.
    """
    out = []
    escaped = False
    in_class = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            if char == "]":
                in_class = False
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
    return "".join(out)


_compiled = {}


def search(pattern, text):
    regex = _compiled.get(pattern)
    if regex is None:
        regex = _compiled[pattern] = re.compile(ecma_to_python(pattern))
    return regex.search(text) is not None


def strict_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError("%r does not match %r" % (instance, pattern))


StrictValidator = jsonschema.validators.extend(Draft202012Validator, {"pattern": strict_pattern})


# --- The AsyncAPI document -----------------------------------------------------------------

def resolve_pointer(document, ref):
    """Resolves a local reference ("#/a/b") within `document`."""
    if not ref.startswith("#/"):
        raise DocumentError("only local references are supported, got %r" % ref)
    node = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            try:
                node = node[int(token)]
            except (ValueError, IndexError):
                raise DocumentError("unresolvable reference %r" % ref)
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise DocumentError("unresolvable reference %r" % ref)
    return node


def deref(document, node, seen=None):
    """Follows `$ref` chains of AsyncAPI objects (channels, messages, parameters)."""
    seen = set() if seen is None else seen
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise DocumentError("reference cycle at %r" % ref)
        seen.add(ref)
        node = resolve_pointer(document, ref)
    return node


def rewrite_refs(node):
    """Deep copy of a schema with "#/components/schemas/X" refs turned into "#/$defs/X"."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if not value.startswith(SCHEMA_REF_PREFIX):
                    raise DocumentError("schema reference %r is not under %s" % (value, SCHEMA_REF_PREFIX))
                out[key] = DEFS_REF_PREFIX + value[len(SCHEMA_REF_PREFIX):]
            else:
                out[key] = rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [rewrite_refs(item) for item in node]
    return copy.deepcopy(node)


def address_regex(address):
    """Turns "parkguard/v1/{site}/{unit}/status" into a regex with one group per parameter."""
    parts = []
    names = []
    position = 0
    for match in re.finditer(r"\{([^{}]+)\}", address):
        parts.append(re.escape(address[position:match.start()]))
        name = match.group(1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in names:
            raise DocumentError("unsupported parameter name %r in %r" % (name, address))
        names.append(name)
        parts.append("(?P<%s>[^/]*)" % name)
        position = match.end()
    parts.append(re.escape(address[position:]))
    return re.compile("".join(parts) + r"\Z"), names


class Message:
    def __init__(self, name, validator, image=False):
        self.name = name
        self.validator = validator  # None: the payload must be empty (unless an image)
        self.image = image  # contentType image/jpeg: the payload is a JPEG, given base64


COMMENT_TAG = b"parkguard-snapshot/1"


def check_image(data, arguments):
    """Returns None if `data` is a whole JPEG whose parkguard comment segment names the topic's
    parameters, else the reason."""
    if len(data) < 8 or data[:2] != b"\xff\xd8":
        return "payload is not a JPEG (no SOI marker)"
    if data.rstrip(b"\x00\r\n")[-2:] != b"\xff\xd9":
        return "payload is a truncated JPEG (no EOI marker)"
    if data[2:4] != b"\xff\xfe":
        return "the JPEG has no comment segment right after its start marker"
    length = int.from_bytes(data[4:6], "big")
    if length - 2 > 1024:
        return "the comment segment is %d bytes; at most 1024" % (length - 2)
    body = data[6:4 + length]
    if len(body) != length - 2 or not body.startswith(COMMENT_TAG + b"\n"):
        return "the JPEG's first comment is not %s" % COMMENT_TAG.decode()
    fields = {}
    for line in body[len(COMMENT_TAG) + 1:].decode("utf-8", "replace").split("\n"):
        name, equals, value = line.partition("=")
        if not equals or name in fields:
            return "comment line %r is not a new name=value" % line[:60]
        fields[name] = value
    wanted = {"alarmId", "camera", "stage", "takenAt", "width", "height", "scaled"}
    if set(fields) != wanted:
        return "comment fields are %s, the contract says %s" % (sorted(fields), sorted(wanted))
    for name in ("alarmId", "camera", "stage"):
        if name in arguments and fields[name] != arguments[name]:
            return "comment %s=%r differs from topic parameter {%s}=%r" % (name, fields[name], name, arguments[name])
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["takenAt"]):
        return "comment takenAt=%r is not RFC 3339 with milliseconds" % fields["takenAt"]
    if not all(re.fullmatch(r"[1-9]\d{0,4}", fields[name]) and int(fields[name]) <= 65535 for name in ("width", "height")) \
            or fields["scaled"] not in ("true", "false"):
        return "comment width/height/scaled are not numbers from 1 to 65535 and a boolean"
    return None


class Parameter:
    def __init__(self, name, spec):
        self.name = name
        self.pattern = spec.get("x-pattern")
        self.enum = spec.get("enum")
        self.pointer = None
        location = spec.get("location")
        if location is not None:
            if not location.startswith(PAYLOAD_LOCATION):
                raise DocumentError("parameter %r: unsupported location %r" % (name, location))
            self.pointer = location[len(PAYLOAD_LOCATION):]

    def problem(self, value):
        if self.pattern is not None and not search(self.pattern, value):
            return "topic parameter {%s}=%r does not match %r" % (self.name, value, self.pattern)
        if self.enum is not None and value not in self.enum:
            return "topic parameter {%s}=%r is not one of %r" % (self.name, value, self.enum)
        return None


class Channel:
    def __init__(self, key, address, parameters, messages):
        self.key = key
        self.address = address
        self.regex, self.names = address_regex(address)
        self.parameters = parameters
        self.messages = messages
        self.literal_length = len(re.sub(r"\{[^{}]+\}", "", address))
        self.qos = None  # from the mqtt binding of the channel's operation, when it says
        self.retain = None


def load_contract(path):
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
        raise DocumentError("%s is not an AsyncAPI 3 document" % path)
    schemas = (document.get("components") or {}).get("schemas") or {}
    defs = rewrite_refs(schemas)

    validators = {}

    def validator_for(payload):
        if isinstance(payload, dict) and "schemaFormat" in payload and "schema" in payload:
            payload = payload["schema"]  # AsyncAPI multi-format schema object
        if not isinstance(payload, dict):
            raise DocumentError("message payload is not a schema object: %r" % (payload,))
        key = json.dumps(payload, sort_keys=True)
        if key not in validators:
            schema = rewrite_refs(payload)
            schema["$defs"] = defs
            try:
                Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as error:
                raise DocumentError("invalid payload schema %s: %s" % (key, error.message))
            validators[key] = StrictValidator(schema)
        return validators[key]

    channels = []
    for key, channel in (document.get("channels") or {}).items():
        channel = deref(document, channel)
        address = channel.get("address")
        if not isinstance(address, str):
            raise DocumentError("channel %r has no address" % key)
        parameters = {}
        for name, spec in (channel.get("parameters") or {}).items():
            parameters[name] = Parameter(name, deref(document, spec))
        messages = []
        for name, message in (channel.get("messages") or {}).items():
            message = deref(document, message)
            payload = message.get("payload")
            image = message.get("contentType") == "image/jpeg"
            messages.append(Message(name, None if payload is None or image else validator_for(payload), image))
        if not messages:
            raise DocumentError("channel %r has no messages" % key)
        built = Channel(key, address, parameters, messages)
        missing = [name for name in built.names if name not in parameters]
        if missing:
            raise DocumentError("channel %r: parameters %s are not described" % (key, ", ".join(missing)))
        channels.append(built)
    if not channels:
        raise DocumentError("%s has no channels" % path)
    by_ref = {"#/channels/" + channel.key.replace("~", "~0").replace("/", "~1"): channel for channel in channels}
    for key, operation in (document.get("operations") or {}).items():
        operation = deref(document, operation)
        channel = by_ref.get(((operation.get("channel") or {}).get("$ref")))
        if channel is None:
            raise DocumentError("operation %r does not reference a channel by $ref" % key)
        mqtt = ((operation.get("bindings") or {}).get("mqtt")) or {}
        for field in ("qos", "retain"):
            if field in mqtt:
                if getattr(channel, field) not in (None, mqtt[field]):
                    raise DocumentError("operations disagree on %s of channel %r" % (field, channel.key))
                setattr(channel, field, mqtt[field])
    return channels


# --- Checking messages -----------------------------------------------------------------------

def strict_json(text):
    """json.loads that refuses NaN/Infinity and duplicate keys."""

    def no_constants(name):
        raise ValueError("%s is not JSON" % name)

    def pairs(items):
        result = {}
        for key, value in items:
            if key in result:
                raise ValueError("duplicate key %r" % key)
            result[key] = value
        return result

    return json.loads(text, parse_constant=no_constants, object_pairs_hook=pairs)


def json_path(error):
    path = "$"
    for part in error.absolute_path:
        path += "[%d]" % part if isinstance(part, int) else ".%s" % part
    return path


def pointer_value(document, pointer):
    node = document
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        else:
            return None, False
    return node, True


def check_message(channel, message, arguments, payload, encoding=None):
    """Returns None if `payload` is a valid `message`, else the reason."""
    if message.image:
        if encoding != "base64":
            return "an image payload must be given base64 (\"encoding\": \"base64\")"
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            return "payload is not valid base64"
        return check_image(data, arguments)
    if encoding is not None:
        return "only image payloads are given encoded"
    if message.validator is None:
        return None if payload == "" else "payload must be empty (%d characters)" % len(payload)
    if payload.strip() == "":
        return "payload is empty; expected JSON"
    try:
        document = strict_json(payload)
    except ValueError as error:
        return "payload is not valid JSON: %s" % error
    errors = list(message.validator.iter_errors(document))
    if errors:
        error = best_match(errors)
        more = " (+%d more)" % (len(errors) - 1) if len(errors) > 1 else ""
        text = error.message
        if len(text) > 300:  # "{...whole payload...} is not valid under ..." can be long
            text = text[:200] + " ... " + text[-90:]
        return "%s: %s%s" % (json_path(error), text, more)
    for name, value in arguments.items():
        pointer = channel.parameters[name].pointer
        if pointer is None:
            continue
        found, present = pointer_value(document, pointer)
        if present and found != value:
            return "payload %s=%r differs from topic parameter {%s}=%r" % (pointer, found, name, value)
    return None


def check(channels, topic, payload, qos=None, retain=None, encoding=None):
    """Returns None if the message conforms, else the reason."""
    candidates = []
    for channel in channels:
        match = channel.regex.match(topic)
        if match:
            candidates.append((channel, match.groupdict()))
    if not candidates:
        return "topic matches no channel of the contract"
    candidates.sort(key=lambda item: -item[0].literal_length)
    reasons = []
    for channel, arguments in candidates:
        problems = [channel.parameters[name].problem(value) for name, value in arguments.items()]
        problems = [problem for problem in problems if problem]
        if qos is not None and channel.qos is not None and qos != channel.qos:
            problems.append("published with QoS %d, the contract says %d" % (qos, channel.qos))
        if retain is not None and channel.retain is not None and retain != channel.retain:
            problems.append("published with retain=%s, the contract says %s" % (retain, channel.retain))
        if problems:
            reasons.append("%s: %s" % (channel.key, "; ".join(problems)))
            continue
        message_reasons = []
        for message in channel.messages:
            reason = check_message(channel, message, arguments, payload, encoding)
            if reason is None:
                return None
            message_reasons.append(reason if len(channel.messages) == 1 else "%s: %s" % (message.name, reason))
        reasons.append("%s: %s" % (channel.key, " | ".join(message_reasons)))
    return " || ".join(reasons)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s ASYNCAPI_YAML MESSAGES_JSONL\n" % argv[0])
        return 2
    try:
        channels = load_contract(argv[1])
    except (OSError, yaml.YAMLError, DocumentError) as error:
        sys.stderr.write("contract: cannot use %s: %s\n" % (argv[1], error))
        return 2
    passed = failed = 0
    try:
        handle = open(argv[2], encoding="utf-8")
    except OSError as error:
        sys.stderr.write("contract: cannot read %s: %s\n" % (argv[2], error))
        return 2
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            topic = "?"
            try:
                record = strict_json(line)
                if not isinstance(record, dict):
                    raise ValueError("line is not a JSON object")
                topic, payload = record.get("topic"), record.get("payload")
                if not isinstance(topic, str) or not isinstance(payload, str):
                    topic = topic if isinstance(topic, str) else "?"
                    raise ValueError('needs string fields "topic" and "payload"')
                qos, retain = record.get("qos"), record.get("retain")
                if qos is not None and (type(qos) is not int or qos not in (0, 1, 2)):
                    raise ValueError('"qos" must be 0, 1 or 2')
                if retain is not None and not isinstance(retain, bool):
                    raise ValueError('"retain" must be a boolean')
                encoding = record.get("encoding")
                if encoding is not None and encoding != "base64":
                    raise ValueError('"encoding" must be "base64"')
                unknown = sorted(set(record) - {"topic", "payload", "qos", "retain", "encoding"})
                if unknown:
                    raise ValueError("unknown fields %s" % ", ".join(unknown))
            except ValueError as error:
                reason = "malformed line: %s" % error
            else:
                reason = check(channels, topic, payload, qos, retain, encoding)
            if reason is None:
                passed += 1
            else:
                failed += 1
                print("line %d: %s: %s" % (number, topic, reason))
    print("contract: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
