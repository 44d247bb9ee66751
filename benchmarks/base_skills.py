"""What a base model can do before fine-tuning, and whether the tuned models use it.

    python benchmarks/base_skills.py                              # the shipped base (embedded)
    python benchmarks/base_skills.py --model DIR --tuned RUN ...  # another base; tuned tools/instruct runs

The unmet targets of issue 13 rest on skills the fine-tunes cannot create in minutes, so a candidate base is
worth measuring before the recipes are run on it. Greedy, in the pretraining corpus's own plain-text forms
(`harness/data/builtin/corpus.py`), on items it never saw:
- near: a random sequence written again right after it (what the chat and tools recipes copy with);
- far: the same, 150-450 tokens of other documents later (a call copies its name from a tool list that far up);
- recall: a fact stated among others, asked about ("Where does Tom live?\nTom lives in" -> the city);
- dictionary: the translation test pairs of the instruct suite, in the corpus's dictionary forms;
- schema: an unseen tool's schema, its request, then `<tool_call>{"name": "` -> the offered tool's name.
For a tuned tools run (`--tuned`): of the answers due on unseen tools, the share whose calls all name an offered
tool (the scorer's judgement), and the share whose first call names one of the nine training tools (recalled).
For a tuned instruct run: its exact answers on the same translation pairs the dictionary probe asks the base.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import save, table


def probe_base(reference: str) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.models.loading import resolve_model
    from harness.models.probes import probe

    path = resolve_model(reference)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return probe(AutoModelForCausalLM.from_pretrained(path), tokenizer)


def schema_reading(run: Path) -> dict:
    """Of a tuned tools run's answers due on unseen tools: calls only offered tools / first calls a training tool."""
    from harness.data.builtin.tools import TOOLS
    from harness.models.tool_calls import ParseError, parse_tool_calls
    from harness.report.leaderboard import suite_records

    trained = {tool.name for tool in TOOLS}
    offered = recalled = due = 0
    for record in suite_records(run / "eval" / "tuned" / "tools"):
        if record["meta"].get("tool_set") != "unseen" or not isinstance(record["reference"], list):
            continue  # a call on a training tool, or the answer after a tool's result
        if not record["reference"]:
            continue  # no call due (irrelevance)
        due += 1
        try:
            called = [call["name"] for call in parse_tool_calls(record["outputs"][0])]
        except ParseError:
            continue
        offered += bool(called) and not record["verdicts"][0]["details"]["hallucinated"]  # the scorer's judgement
        recalled += bool(called) and called[0] in trained
    return {"offered": round(offered / due, 3), "recalled": round(recalled / due, 3), "n": due}


def translations(run: Path) -> dict:
    """A tuned instruct run's exact answers on the translation test pairs (the dictionary probe's pairs)."""
    from harness.report.leaderboard import suite_records

    records = suite_records(run / "eval" / "tuned" / "instruct")
    hits = [r["verdicts"][0]["correct"] for r in records if r["meta"]["task"] == "translate_word"]
    return {"rate": round(sum(hits) / len(hits), 3), "n": len(hits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="a base model (default: embedded); repeatable")
    parser.add_argument("--tuned", action="append", type=Path, default=[], help="a tools or instruct run folder")
    args = parser.parse_args()
    bases = {reference: probe_base(reference) for reference in args.model or ["embedded"]}
    from harness.models.probes import SKILLS as skills

    rows = [
        [reference, *(f"{100 * result[s]['rate']:.0f}% (n={result[s]['n']})" for s in skills)]
        for reference, result in bases.items()
    ]
    print(table(["base", *skills], rows))
    tools = {run.name: schema_reading(run) for run in args.tuned if (run / "eval/tuned/tools").is_dir()}
    if tools:
        rows = [[run, f"{100 * r['offered']:.0f}%", f"{100 * r['recalled']:.0f}%", r["n"]] for run, r in tools.items()]
        print("\n" + table(["tuned tools run", "calls an offered tool", "calls a training tool", "calls due"], rows))
    instruct = {run.name: translations(run) for run in args.tuned if (run / "eval/tuned/instruct").is_dir()}
    if instruct:
        rows = [[run, f"{100 * r['rate']:.0f}% (n={r['n']})"] for run, r in instruct.items()]
        print("\n" + table(["tuned instruct run", "translation test pairs right"], rows))
    tuned = {"tools": tools, "instruct": instruct}
    print(f"\nwritten: {save('base_skills', {'bases': bases, 'tuned': tuned})}")


if __name__ == "__main__":
    main()
