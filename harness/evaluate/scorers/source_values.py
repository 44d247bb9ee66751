"""Java and JavaScript arguments -> Python values, by the rules of BFCL's checker.

BFCL shows Java and JavaScript functions with every parameter typed `string` and asks for each value in
the language's own syntax (`"50"`, `"true"`, `"new ArrayList<>(Arrays.asList(1, 2))"`, `"{'a': 1}"`). Its
checker turns those strings back into values by the declared type, and a string that does not parse stays
a string (and then fails the value check). These functions follow BFCL's type converters
(`bfcl_eval/eval_checker/ast_eval/type_convertor/`, Apache-2.0) rule for rule, so the verdicts agree with
BFCL's; they only read text with regular expressions, never evaluate it.
"""

from __future__ import annotations

import re

JAVA_TYPES = {
    "byte": int,
    "short": int,
    "integer": int,
    "float": float,
    "double": float,
    "long": int,
    "boolean": bool,
    "char": str,
    "Array": list,
    "ArrayList": list,
    "Set": set,
    "HashMap": dict,
    "Hashtable": dict,
    "Queue": list,
    "Stack": list,
    "String": str,
    "any": str,
}
JAVASCRIPT_TYPES = {
    "String": str,
    "integer": int,
    "float": float,
    "Bigint": int,
    "Boolean": bool,
    "dict": dict,
    "array": list,
    "any": str,
}
TYPES = {"java": JAVA_TYPES, "javascript": JAVASCRIPT_TYPES}
COLLECTIONS = ("Array", "ArrayList", "array")  # types whose elements are converted by `items.type`

INTEGER = re.compile(r"^-?\d+$")
JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
JAVA_LONG = re.compile(r"^-?\d+[lL]$")
JS_FLOAT = re.compile(r"^-?\d+(\.\d+)?$")
JS_BIGINT = re.compile(r"^-?\d+n$")


class Unsupported(ValueError):
    """A declared type BFCL cannot convert either (Set, Hashtable, Queue, Stack)."""


def convert(language: str, value: str, declared: str, element: str | None = None):
    return (java_value if language == "java" else javascript_value)(value, declared, element)


# --- Java ---------------------------------------------------------------------------------------


def java_value(value: str, declared: str, element: str | None = None):
    if declared not in JAVA_TYPES:
        raise Unsupported(f"unsupported Java type {declared!r}")
    if declared in ("byte", "short", "integer"):
        return int(value) if INTEGER.match(value) else value
    if declared == "float":
        return float(value[:-1]) if JAVA_FLOAT.match(value) else value
    if declared == "double":
        return float(value) if JAVA_DOUBLE.match(value) else value
    if declared == "long":
        return int(value[:-1]) if JAVA_LONG.match(value) else value
    if declared == "boolean":
        return value == "true" if value in ("true", "false") else value
    if declared == "ArrayList":
        return _java_arraylist(value, element)
    if declared == "Array":
        return _java_array(value, element)
    if declared == "HashMap":
        return _java_hashmap(value)
    if declared in ("String", "any", "char"):  # BFCL's char pattern never matches: chars stay as written
        return value
    raise Unsupported(f"BFCL does not convert Java {declared} values")


def _java_element(text: str, element: str | None):
    if element in ("char", "String"):
        return text[1:-1]  # the quotes
    return java_value(text, element) if element else java_scalar(text)


def _java_arraylist(text: str, element: str | None):
    if match := re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text):
        return [_java_element(part.strip(), element) for part in match.group(1).split(",")]
    if match := re.search(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", text, re.DOTALL):
        return [_java_element(part.strip(), element) for part in re.findall(r"add\((.+?)\)", match.group(1))]
    if re.search(r"new\s+ArrayList<\w*>\(\)", text):
        return []
    return text


def _java_array(text: str, element: str | None):
    match = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
    if not match:
        return text
    parts = [part.strip() for part in match.group(1).split(",") if part.strip()]
    return [java_value(part, element) if element else java_scalar(part) for part in parts]


def _java_hashmap(text: str):
    if match := re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL):
        return {
            key: java_scalar(value.strip()) for key, value in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", match.group(1))
        }
    if re.search(r"new\s+HashMap<.*?>\s*\(\)", text):
        return {}
    return text


def java_scalar(text: str):
    """A Java literal of unknown type: boolean, "string", long, float, then int or double, else the text."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if JAVA_LONG.match(text):
        return int(text[:-1])
    if JAVA_FLOAT.match(text):
        return float(text[:-1])
    return _number_or_text(text)


# --- JavaScript ---------------------------------------------------------------------------------


def javascript_value(value: str, declared: str, element: str | None = None):
    if declared not in JAVASCRIPT_TYPES:
        raise Unsupported(f"unsupported JavaScript type {declared!r}")
    if declared == "String":
        return value[1:-1] if value and value[0] == value[-1] and value[0] in "'\"" else value
    if declared == "integer":
        return int(value) if INTEGER.match(value) else value
    if declared == "float":
        return float(value) if JS_FLOAT.match(value) else value
    if declared == "Bigint":
        return int(value[:-1]) if JS_BIGINT.match(value) else value
    if declared == "Boolean":
        return value == "true" if value in ("true", "false") else value
    if declared == "dict":
        return _js_object(value.strip())
    if declared == "array":
        return _js_array(value.strip(), element)
    return value  # any


ARRAY_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
ARRAY = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")


def _js_array(code: str, element: str | None):
    try:
        if match := ARRAY_2D.match(code):
            rows = []
            for index, row in enumerate(re.findall(r"\[(.*?)\]", match.group(0))):
                row = row.strip()
                if index == 0 and row.startswith("["):
                    row = row[1:]
                rows.append([js_scalar(part.strip()) for part in row.split(",")])
            return rows
        match = ARRAY.match(code)
        if not match:
            return code
        inside = (match.group(1) if match.group(1) is not None else match.group(2) or "").strip()
        parts = [part.strip() for part in inside.split(",")] if inside else []
        if element:
            return [javascript_value(part, element) for part in parts]
        return [js_scalar(part) for part in parts]
    except (ValueError, IndexError):
        return code  # BFCL keeps the text when an element does not convert


def _js_object(code: str):
    if code == "{}":
        return {}
    match = re.match(r"\{(.*?)\}", code)
    if not match:
        return code
    entries = {}
    for key, value in re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", match.group(1)):
        key, value = key.strip().strip("'\""), value.strip()
        if value.startswith("[") and value.endswith("]"):
            entries[key] = _js_array(value, None)
        elif value.startswith("{") and value.endswith("}"):
            entries[key] = _js_object(value)
        else:
            entries[key] = js_scalar(value.strip("'\""))
    return entries


def js_scalar(text: str):
    """A JavaScript literal of unknown type: boolean, quoted string, then int or float, else the text."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if text and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return _number_or_text(text)


def _number_or_text(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
