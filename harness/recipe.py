"""Recipes: one YAML file describes a whole run. Validated by pydantic; errors name the file and field.

`train:` is not re-declared here: it holds any `trl.SFTConfig` field and is validated by building the
real SFTConfig, so a field TRL renamed fails at `harness validate`, not an hour into a GPU job.
`peft:` likewise holds any `peft.LoraConfig` field.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

Mode = Literal["instruct", "chat", "tools", "reasoning"]


class _SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader with YAML 1.2's scalars, as users write them: `1e-4` is a float (YAML 1.1 wants
    `1.0e-4`) and only true/false are booleans (`save_strategy: no` stays the string "no")."""


_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$|"
        r"^[-+]?[0-9][0-9_]*\.[0-9_]*$|^[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def safe_load(text: str):
    return yaml.load(text, Loader=_SafeLoader)  # a SafeLoader subclass


class RecipeError(ValueError):
    """A recipe problem, already phrased as `file: field.path: what is wrong`."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TinySpec(BaseModel):
    """Size of the `tiny` model (random weights, built per seed). The defaults train to useful accuracy in
    minutes on 2 CPU cores."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    tokenizer_corpus_rows: int = 1500  # per built-in generator


class ModelSettings(Strict):
    name: str = Field(
        "tiny",
        description="'embedded' (the pretrained base in the package), 'tiny' (random weights), a hub id, "
        "a local folder or a run folder",
    )
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    chat_template: str | None = Field(
        None,
        description="A Jinja chat template file, 'harness' (the bundled ChatML one) or 'trl:NAME' (a template TRL "
        "ships, e.g. trl:llama3_training). Default: the model's own, else the bundled one.",
    )
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    tiny: TinySpec = Field(default_factory=TinySpec, description="Size of the tiny model (name: tiny only)")


class SourceSettings(Strict):
    """One data source. `samples` and `weight` are exclusive ways to size its share of the mixture:
    `samples: N` takes N rows; `weight: w` takes w times the source's rows (0.5 = half, 2 = every row
    twice), as in alignment-handbook's dataset_mixer. Neither: every row once."""

    builtin: Mode | None = Field(None, description="A built-in generator")
    path: str | None = Field(None, description="A local jsonl, json, parquet or csv file (relative to the recipe)")
    hub: str | None = Field(None, description="A datasets hub id")
    subset: str | None = Field(None, description="Hub config name")
    split: str = "train"
    samples: int | None = Field(None, ge=1)
    weight: float | None = Field(None, gt=0)
    streaming: bool = Field(
        False,
        description="Read only the first `samples` rows, as a stream, instead of loading (and, from the hub, "
        "downloading) the whole dataset first",
    )
    layout: str | None = Field(
        None,
        description="How rows are laid out: messages, prompt_completion, sharegpt, hermes, xlam, alpaca, "
        "natural_instructions, flan, glaive (default: detected from the first row)",
    )
    columns: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Target column -> source column, e.g. {messages: conversations}; a list joins several with a "
        "blank line, e.g. {prompt: [instruction, input]}",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed to the chat template for this source's rows, e.g. {enable_thinking: true}",
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Options of a built-in generator")
    cluster: str | None = Field(
        None, description="The task cluster of every row (e.g. nli); built-in sources tag themselves"
    )
    cluster_column: str | None = Field(
        None, description="A column naming each row's task or cluster (e.g. a FLAN mixture's task-name column)"
    )
    clusters: dict[str, str] = Field(
        default_factory=dict,
        description="Value of cluster_column -> cluster, over the shipped mappings (FLAN 2021 and lm-eval task names)",
    )

    @model_validator(mode="after")
    def _one_origin(self):
        origins = [name for name in ("builtin", "path", "hub") if getattr(self, name)]
        if len(origins) != 1:
            raise ValueError(f"give exactly one of builtin, path, hub (got {origins or 'none'})")
        if self.samples is not None and self.weight is not None:
            raise ValueError("give samples or weight, not both")
        if self.builtin and self.weight is not None:
            raise ValueError("a built-in source is sized with samples, not weight")
        if self.streaming and (self.builtin or self.samples is None):
            raise ValueError("streaming reads the first `samples` rows of a file or hub dataset: give samples")
        _check_cluster_fields(self, names_its_tasks=bool(self.builtin))
        return self

    _path_as_written: str | None = PrivateAttr(None)  # before the recipe's loading made it absolute

    @property
    def label(self) -> str:
        """How messages and reports name the source: its path as the recipe writes it."""
        return f"builtin:{self.builtin}" if self.builtin else (self._path_as_written or self.path or f"hub:{self.hub}")


def _check_cluster_fields(settings, names_its_tasks: bool) -> None:
    """`cluster` tags everything; `clusters` maps task names: a built-in's or lm-eval's own, or cluster_column's."""
    if settings.cluster and (settings.cluster_column or settings.clusters):
        raise ValueError("give cluster (one for all rows) or cluster_column and clusters (per row), not both")
    if settings.clusters and not settings.cluster_column and not names_its_tasks:
        raise ValueError("clusters maps the values of a column of task names: name it with cluster_column")


class DataSettings(Strict):
    sources: list[SourceSettings] = Field(min_length=1)
    eval_sources: list[SourceSettings] = Field(default_factory=list, description="Validation data for training")
    on_error: Literal["skip", "abort"] = Field("skip", description="Malformed rows: skip and report, or abort")
    shuffle: bool = True


class GenerationSettings(Strict):
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, description="Samples per prompt (pass@1 is averaged; majority vote when n > 1)")
    seed: int = 0
    stop: list[str] = Field(default_factory=list)
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)


class SuiteSettings(Strict):
    suite: str = Field(description="A registered suite, e.g. reasoning, tools, chat, instruct, gsm8k, bfcl, lm_eval")
    name: str | None = Field(None, description="Name in reports (default: the suite)")
    split: str = "test"
    samples: int | None = Field(None, ge=1)
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    cluster: str | None = Field(
        None, description="The task cluster this suite measures; built-in suites tag themselves"
    )
    cluster_column: str | None = Field(None, description="file suites: a column naming each item's task or cluster")
    clusters: dict[str, str] = Field(
        default_factory=dict,
        description="Task -> cluster, over the shipped mappings: values of cluster_column (file), lm-eval task names "
        "(lm_eval) or built-in task families (instruct)",
    )

    @model_validator(mode="after")
    def _clusters(self):
        _check_cluster_fields(self, names_its_tasks=self.suite != "file")
        if self.cluster_column and self.suite != "file":
            raise ValueError("cluster_column is read from a file suite's rows; other suites take cluster or clusters")
        return self


class DuringTraining(Strict):
    """Evaluate a small slice of the suites while training, so reports show accuracy against steps."""

    every_steps: int = Field(ge=1)
    samples: int = Field(20, ge=1, description="Items per suite at each evaluation")


class EvalSettings(Strict):
    backend: str = Field("auto", description="auto or a registered backend: transformers, vllm, openai")
    batch_size: int = Field(64, ge=1, description="Prompts per generate call (transformers backend); longest first")
    base_url: str | None = Field(None, description="openai backend: the server's /v1 URL")
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    suites: list[SuiteSettings] = Field(default_factory=list)
    backend_options: dict[str, Any] = Field(default_factory=dict, description="Passed to the backend (vLLM LLM kwargs)")
    during_training: DuringTraining | None = None

    @field_validator("backend")
    @classmethod
    def _registered_backend(cls, backend: str) -> str:
        from harness.evaluate.backends import backend_names  # the registry; recipes import nothing else of harness

        if backend not in backend_names():
            raise ValueError(f"unknown backend {backend!r}; expected one of {list(backend_names())}")
        return backend


ReportFormat = Literal["md", "json", "csv", "html"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("md", "json", "csv", "html")


class ReportSettings(Strict):
    formats: list[ReportFormat] = Field(default_factory=lambda: list(REPORT_FORMATS))
    title: str | None = None


class GeneralizationSettings(Strict):
    """Zero-shot checks: task clusters kept out of training, so the suites of those clusters measure
    generalization to tasks the model never saw (FLAN's held-out clusters)."""

    held_out: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]] = Field(
        default_factory=list, description="Clusters whose training rows are dropped (letters, digits, '.', '_', '-')"
    )


class DecontaminationSettings(Strict):
    """Evaluation items checked against every training row by shared word n-grams, after lowercasing and
    stripping punctuation. `tulu` (Tulu 3): an item is contaminated when more than `threshold` of its words are
    covered by `ngram`-grams it shares with one training row (8, 0.5). `gpt3`: any shared `ngram`-gram (13)."""

    enabled: bool = True
    rule: Literal["tulu", "gpt3"] = "tulu"
    ngram: int | None = Field(None, ge=1, le=64, description="Default 8 (tulu) or 13 (gpt3)")
    threshold: float | None = Field(None, ge=0, lt=1, description="tulu: share of the item's words (default 0.5)")
    boilerplate_rows: int = Field(
        10,
        ge=1,
        description="An n-gram in more training rows than this is a template's words, not evidence of one item",
    )
    action: Literal["report", "drop_train", "fail"] = Field(
        "report", description="report; drop_train: remove the matching training rows; fail: stop before training"
    )

    @model_validator(mode="after")
    def _threshold_is_tulu(self):
        if self.rule == "gpt3" and self.threshold is not None:
            raise ValueError("threshold belongs to rule tulu; rule gpt3 flags any shared n-gram")
        return self

    @property
    def n(self) -> int:
        return self.ngram or (8 if self.rule == "tulu" else 13)

    @property
    def coverage(self) -> float:
        """The share of an item's words that shared n-grams must exceed (gpt3: any shared n-gram)."""
        return 0.0 if self.rule == "gpt3" else (0.5 if self.threshold is None else self.threshold)


class Recipe(Strict):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=200,
        description="Names the run folder (runs/<name>): letters, digits, '.', '_' and '-'",
    )
    mode: Mode
    seed: int = 0
    model: ModelSettings = Field(default_factory=ModelSettings)
    data: DataSettings
    peft: dict[str, Any] | None = Field(None, description="Any peft.LoraConfig field; absent: full fine-tuning")
    train: dict[str, Any] = Field(default_factory=dict, description="Any trl.SFTConfig field")
    eval: EvalSettings = Field(default_factory=EvalSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    generalization: GeneralizationSettings = Field(default_factory=GeneralizationSettings)
    decontamination: DecontaminationSettings = Field(default_factory=DecontaminationSettings)

    # Where the recipe came from (its relative paths were resolved against its folder when it loaded).
    source_path: Path | None = Field(None, exclude=True)

    def dump(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def names_a_file(chat_template: str | None) -> bool:
    """A `model.chat_template` that is a file path: None, "harness" and "trl:NAME" name no file."""
    return chat_template not in (None, "harness") and not chat_template.startswith("trl:")


def anchored(recipe: Recipe, folder: Path) -> Recipe:
    """The recipe with every relative path made absolute against `folder` (the recipe file's), once, as it
    loads: data paths, suite paths and suite options named `*_path`, a model folder beside the recipe, a chat
    template file. Nothing downstream resolves paths again, and the recipe a run folder keeps runs anywhere."""

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else str((folder / path).resolve())

    data = recipe.model_dump(mode="json")
    for section in ("sources", "eval_sources"):
        for source in data["data"][section]:
            if source.get("path"):
                source["path"] = absolute(source["path"])
    for suite in data["eval"]["suites"]:
        if suite.get("path"):
            suite["path"] = absolute(suite["path"])
        for key, value in suite["options"].items():
            if key.endswith("_path") and isinstance(value, str):
                suite["options"][key] = absolute(value)
    model = data["model"]
    if model["name"] not in ("tiny", "embedded") and (folder / model["name"]).exists():
        model["name"] = absolute(model["name"])
    if names_a_file(model.get("chat_template")):
        model["chat_template"] = absolute(model["chat_template"])
    result = Recipe.model_validate(data)
    for section in ("sources", "eval_sources"):
        for given, made in zip(getattr(recipe.data, section), getattr(result.data, section), strict=True):
            made._path_as_written = given.label if given.path else None
    return result


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`train.learning_rate=1e-4` style overrides; values are parsed as YAML, list items by index."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise RecipeError(f"--set {override!r}: expected KEY.PATH=VALUE")
        node: Any = raw
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[_index(part, override)]
            else:
                node = node.setdefault(part, {})
        leaf = safe_load(value)
        if isinstance(node, list):
            node[_index(parts[-1], override)] = leaf
        else:
            node[parts[-1]] = leaf
    return raw


def _index(part: str, override: str) -> int:
    if not part.isdigit():
        raise RecipeError(f"--set {override!r}: {part!r} indexes a list and must be a number")
    return int(part)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: a folder, not a recipe file") from None
    except UnicodeDecodeError as error:
        raise RecipeError(f"{path}: not UTF-8 text (byte {error.start}): a recipe is a YAML file") from None
    except yaml.YAMLError as error:
        raise RecipeError(f"{path}: not valid YAML: {error}") from None
    except RecursionError:
        raise RecipeError(f"{path}: nested too deeply to be a recipe") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    return parse_recipe(raw, source=path)


def parse_recipe(raw: dict, source: Path | None = None) -> Recipe:
    where = str(source) if source else "<recipe>"
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as error:
        raise RecipeError("\n".join(f"{where}: {line}" for line in _describe(error, raw))) from None
    except RecursionError:
        raise RecipeError(f"{where}: nested too deeply to be a recipe") from None
    if source is not None:
        recipe = anchored(recipe, Path(source).parent)
    recipe.source_path = source
    return recipe


def field_path(*parts) -> str:
    """`data.sources.0.path`; a key that is not a plain name is quoted, so the path stays readable."""
    return ".".join(str(p) if re.fullmatch(r"[\w\-]+", str(p)) else repr(str(p)) for p in parts)


def _describe(error: ValidationError, raw: dict) -> list[str]:
    lines = []
    for item in error.errors():
        location = field_path(*item["loc"])
        if item["type"] == "extra_forbidden":
            model = _model_at(Recipe, item["loc"][:-1])
            hint = _did_you_mean(str(item["loc"][-1]), list(model.model_fields) if model else [])
            lines.append(f"{location}: unknown field{hint}")
        else:
            lines.append(f"{location}: {item['msg']}")
    return lines


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc`, to suggest its field names."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            inner = getattr(candidate, "__args__", (candidate,))
            found = next((c for c in (candidate, *inner) if isinstance(c, type) and issubclass(c, BaseModel)), None)
            if found:
                model = found
                break
        else:
            return None
    return model


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def _build(config_class, values: dict, where: str):
    """`config_class(**values)` with recipe-style errors: unknown fields by name, rejections quoted."""
    name = f"{config_class.__module__.split('.')[0]}.{config_class.__name__}"
    known = {f.name for f in dataclasses.fields(config_class) if f.init}
    unknown = [key for key in values if key not in known]
    if unknown:
        raise RecipeError(
            "\n".join(
                f"{where}.{field_path(key)}: not a {name} field{_did_you_mean(key, sorted(known))}" for key in unknown
            )
        )
    # Dataclasses do not check types; a string learning rate would otherwise fail deep inside training.
    types = _field_types(config_class)
    wrong = []
    for key, value in values.items():
        if key in types:
            try:
                types[key].validate_python(value)
            except ValidationError as error:
                wrong.append(f"{where}.{field_path(key)}: {error.errors()[0]['msg']} (got {value!r:.80})")
    if wrong:
        raise RecipeError("\n".join(wrong))
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise RecipeError(f"{where}: {name} rejected it: {error}") from None


@functools.cache
def _field_types(config_class) -> dict[str, TypeAdapter]:
    """A pydantic validator per dataclass field whose annotation pydantic understands."""
    try:
        hints = typing.get_type_hints(config_class)
    except Exception:  # unresolvable annotations: leave the checking to the class
        return {}
    adapters = {}
    for field in dataclasses.fields(config_class):
        try:
            adapters[field.name] = TypeAdapter(hints[field.name])
        except Exception:
            continue
    return adapters


def build_sft_config(recipe: Recipe, output_dir: str | Path, **defaults):
    """The real trl.SFTConfig from `train:`, so TRL itself validates every field.

    `defaults` (device- and mode-aware choices) apply only where the recipe is silent.
    """
    from trl import SFTConfig

    where = f"{recipe.source_path or '<recipe>'}: train"
    if "output_dir" in recipe.train:
        raise RecipeError(f"{where}.output_dir: set by harness (the run folder); remove it")
    seed = recipe.train.get("seed", recipe.seed)
    return _build(SFTConfig, {**defaults, **recipe.train, "output_dir": str(output_dir), "seed": seed}, where)


def build_lora_config(recipe: Recipe):
    from peft import LoraConfig

    if recipe.peft is None:
        return None
    return _build(LoraConfig, {"task_type": "CAUSAL_LM", **recipe.peft}, f"{recipe.source_path or '<recipe>'}: peft")


def recipe_json_schema(suite_kinds: list[str] | None = None) -> dict:
    """The recipe's JSON schema; `suite_kinds` (the evaluator's registered names) become `suite`'s enum."""
    schema = Recipe.model_json_schema()
    if suite_kinds:
        schema["$defs"]["SuiteSettings"]["properties"]["suite"]["enum"] = suite_kinds
    return schema
