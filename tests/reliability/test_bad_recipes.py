"""Random and mutated recipes: each is a valid recipe or an error naming the file, the field and the problem."""

import copy
import re

import pytest
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.recipe import RecipeError, build_lora_config, build_sft_config, load_recipe
from harness.train import training_defaults

SHIPPED = {path.name: yaml.safe_load(path.read_text()) for path in sorted((REPO / "recipes").glob("*.yaml"))}
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
# An error line: "<file>: <field.path>: <problem>" (the field path may hold list indexes).
PART = r"(?:[\w\-]+|'[^']*'|\"[^\"]*\")"
ERROR_LINE = re.compile(rf"^(?P<file>[^:]+\.yaml): (?P<field>{PART}(?:\.{PART})*): (?P<problem>.+)$")


def paths_of(node, prefix=()):
    """Every key path of a YAML tree, leaves and branches."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths_of(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths_of(value, (*prefix, index))


def mutate(tree, path, action, value):
    tree = copy.deepcopy(tree)
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = value
    elif isinstance(parent[key], dict):  # "add": an unknown key next to the real ones
        parent[key]["zz_unknown_field"] = value
    else:
        parent[key] = value
    return tree


def check(path):
    """What `harness validate` does short of touching data: parse, then build the real SFTConfig/LoraConfig."""
    recipe = load_recipe(path)
    build_sft_config(recipe, "/tmp/harness-fuzz", **training_defaults(recipe))
    build_lora_config(recipe)
    return recipe


def assert_clear(error: RecipeError, path):
    lines = str(error).splitlines()
    assert lines, "empty error"
    first = ERROR_LINE.match(lines[0])
    assert first, f"not 'file: field: problem': {lines[0]!r}"
    assert first["file"] == str(path)


@st.composite
def mutated_recipes(draw):
    name = draw(st.sampled_from(sorted(SHIPPED)))
    tree = SHIPPED[name]
    path = draw(st.sampled_from(list(paths_of(tree))))
    return mutate(tree, path, draw(st.sampled_from(["delete", "replace", "add"])), draw(VALUES))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=mutated_recipes())
def test_mutated_recipes_are_valid_or_name_file_field_and_problem(tree, tmp_path):
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(tree))
    try:
        check(path)
    except RecipeError as error:
        assert_clear(error, path)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_text_is_a_recipe_or_an_error_naming_the_file(text, tmp_path):
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        check(path)
    except RecipeError as error:
        assert str(error).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "train,field,problem",
    [
        ({"learning_rate": "fast"}, "train.learning_rate", "valid number"),
        ({"max_steps": 1.5}, "train.max_steps", "valid integer"),
        ({"per_device_train_batch_size": [8]}, "train.per_device_train_batch_size", "valid integer"),
        ({"learning_rat": 1e-4}, "train.learning_rat", "did you mean 'learning_rate'"),
    ],
)
def test_wrong_types_in_train_fail_at_validation_not_deep_in_training(tmp_path, train, field, problem):
    recipe = {**SHIPPED["chat.yaml"], "train": {**SHIPPED["chat.yaml"]["train"], **train}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as caught:
        check(path)
    assert f"{path}: {field}: " in str(caught.value) and problem in str(caught.value)
