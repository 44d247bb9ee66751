"""The 30-line TRL script a user would write instead of `harness train` (the reference of training.py).

python benchmarks/bare_trl_sft.py MODEL_DIR DATA.jsonl TRAINING_ARGS.json OUTPUT_DIR [DTYPE]
"""

import dataclasses
import json
import sys

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_dir, data_file, args_file, output_dir = sys.argv[1:5]
saved = json.loads(open(args_file).read())
fields = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
# to_json_string masks every *_token field as "<FIELD_NAME>"; those stay at their defaults.
settings = {k: v for k, v in saved.items() if k in fields and v != f"<{k.upper()}>" and k != "logging_dir"}
settings.update(output_dir=output_dir, save_strategy="no", report_to="none")
tokenizer = AutoTokenizer.from_pretrained(model_dir)
dtype = sys.argv[5] if len(sys.argv) > 5 else "float32"  # the harness's: float32 on a CPU, bfloat16 on a GPU
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
dataset = load_dataset("json", data_files=data_file, split="train")
trainer = SFTTrainer(model=model, args=SFTConfig(**settings), train_dataset=dataset, processing_class=tokenizer)
result = trainer.train()
print(
    json.dumps(
        {
            "train_runtime": result.metrics["train_runtime"],
            "global_step": trainer.state.global_step,
            "loss": [e["loss"] for e in trainer.state.log_history if "loss" in e],
        }
    )
)
