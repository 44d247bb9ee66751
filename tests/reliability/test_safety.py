"""No code from models, recipes or model output runs; weights are tensors only; keys stay in the environment."""

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from harness.models.loading import ModelError, load_model
from harness.recipe import ModelSettings, RecipeError, load_recipe


def test_trust_remote_code_is_off_unless_the_recipe_turns_it_on(tmp_path, tiny_path):
    assert ModelSettings().trust_remote_code is False
    folder = tmp_path / "custom"
    shutil.copytree(tiny_path, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="custom_llama", auto_map={"AutoConfig": "evil.Config", "AutoModelForCausalLM": "evil.Model"}
    )
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "RAN"
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
        "from transformers import LlamaConfig as Config, LlamaForCausalLM as Model\n"
    )
    with pytest.raises(ModelError, match=r"ships its own code, which harness does not run unless the recipe says"):
        load_model(str(folder))
    assert not marker.exists()


def test_pickled_weights_that_hold_code_are_refused(tmp_path, tiny_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_path, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    marker = tmp_path / "RAN"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    torch.save({"model.embed_tokens.weight": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match="pickled weights hold more than tensors; refused"):
        load_model(str(folder))
    assert not marker.exists()


def test_trained_models_are_saved_as_safetensors_only(trained):
    for model_dir in trained.values():
        names = {p.name for p in model_dir.iterdir()}
        assert "model.safetensors" in names or "adapter_model.safetensors" in names
        assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]


def test_yaml_tags_that_build_objects_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['touch RAN']\nmode: chat\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
    assert not (tmp_path / "RAN").exists()


def test_the_package_never_evaluates_text_or_loads_pickles():
    import yaml

    from harness.recipe import _SafeLoader

    assert issubclass(_SafeLoader, yaml.SafeLoader)  # the one yaml.load allowed below
    forbidden = re.compile(
        r"(?<![.\w])(eval|exec|compile)\(|pickle\.loads?\(|yaml\.load\((?!.*Loader=_SafeLoader)|"
        r"yaml\.unsafe_load|shell=True|weights_only=False|trust_remote_code=True|os\.system\("
    )
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in (REPO / "harness").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if forbidden.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_server_binds_loopback_unless_told_otherwise(trained):
    from harness.cli import serve
    from harness.evaluate.backends.transformers import TransformersBackend
    from harness.serve import make_server

    assert next(p for p in serve.params if p.name == "host").default == "127.0.0.1"
    server = make_server(TransformersBackend(str(trained["chat"])), "tiny", port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_an_api_key_reaches_the_server_but_no_file_log_or_output(trained, tmp_path):
    """The full `harness eval` path against a server, the key only in the environment."""
    import threading

    from harness.evaluate.backends.transformers import TransformersBackend
    from harness.serve import make_server

    key = "sk-test-do-not-leak-4242"
    seen = []
    server = make_server(TransformersBackend(str(trained["chat"])), "tiny", port=0)
    handler = server.RequestHandlerClass
    original = handler.parse_request

    def recording(self):
        ok = original(self)
        seen.append(self.headers.get("Authorization"))
        return ok

    handler.parse_request = recording
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "-v",
                "eval",
                str(trained["chat"]),
                "--backend",
                "openai",
                "--base-url",
                url,
                "--suite",
                "chat",
                "--samples",
                "3",
                "-o",
                str(tmp_path / "out"),
                "--set",
                "eval.backend_options.api_key_env=HARNESS_KEY",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**__import__("os").environ, "HARNESS_KEY": key},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Bearer {key}" in seen  # it was used
    assert key not in result.stdout + result.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert key not in path.read_text(encoding="utf-8", errors="replace"), path
