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
    """`harness serve` as a user starts it: listening on 127.0.0.1 only, under the run folder's name."""
    import os
    import socket
    import time
    import urllib.request
    from pathlib import Path

    from harness.cli import serve

    assert next(p for p in serve.params if p.name == "host").default == "127.0.0.1"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "harness.cli", "serve", str(trained["chat"]), "--engine", "transformers"]
    server = subprocess.Popen([*command, "--port", str(port)], cwd=REPO, env=os.environ, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as response:
                    models = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "harness serve did not start"
                time.sleep(0.2)
        assert [m["id"] for m in models["data"]] == [Path(trained["chat"]).name]
        listening = [
            line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"
        ]
        assert f"0100007F:{port:04X}" in listening and f"00000000:{port:04X}" not in listening
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_api_key_reaches_the_server_but_no_file_log_or_output(trained, tmp_path):
    """The full `harness eval` path against a server, the key only in the environment."""
    from conftest import serving

    from harness.evaluate.backends.transformers import TransformersBackend

    key = "sk-test-do-not-leak-4242"
    seen = []

    def recording(app):
        async def watched(scope, receive, send):
            if scope["type"] == "http":
                seen.append(dict(scope["headers"]).get(b"authorization", b"").decode())
            await app(scope, receive, send)

        return watched

    backend = TransformersBackend(str(trained["chat"]))
    with serving(backend.model, backend.tokenizer, "tiny", wrap=recording) as url:
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
                "--set",
                "eval.backend_options.model=tiny",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**__import__("os").environ, "HARNESS_KEY": key},
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Bearer {key}" in seen  # it was used
    assert key not in result.stdout + result.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert key not in path.read_text(encoding="utf-8", errors="replace"), path
