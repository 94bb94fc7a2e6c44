"""Average the weights of several trained learned-router models (a uniform "model soup"), then calibrate it.

Each ingredient is a folder written by `task-router train --router learned` from the same base and `lora_scale`.
Their LoRA updates are averaged exactly: PEFT's `add_weighted_adapter(..., combination_type="cat")` stacks them
into one adapter of rank n x r whose update is the mean of theirs, merged into MiniLM at load time like any
model's (no cost per decision; the adapter file is n times larger). The soup then gets the recipe's own calibration
(`task-router train --router learned --recalibrate`), on the held-out conversations of the first ingredient's
`training.json`.

    python benchmarks/model_soup.py --out /tmp/runs/soup /tmp/runs/s18 /tmp/runs/s21_ds1 /tmp/runs/s21_ds2
    task-router eval --dataset ../shared/benchmarks/sgd_dev.jsonl.gz --router learned:/tmp/runs/soup

It prints, per ingredient, the norm of its update and the cosine between updates: runs from different LoRA inits
(different `--seed`) have nearly orthogonal updates, whose mean is much smaller than each (benchmarks/RESULTS.md,
session 21); runs from one init (`--seed 0 --data-seed k`) do not.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from task_router._learned.model import BI_ENCODER_DIR, CONFIG_FILE, LearnedConfig, _merged
from task_router._learned.training.train import recalibrate
from task_router.models._encoders import minilm_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="trained learned-router folders (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="the soup's folder (must not exist)")
    parser.add_argument("--no-calibration", action="store_true", help="write the soup without recalibrating it")
    args = parser.parse_args()
    folders: list[Path] = args.folders
    if len(folders) < 2:
        parser.error("give two or more trained folders to average")
    if args.out.exists():
        parser.error(f"{args.out} exists: give a new folder to --out")
    configs = [LearnedConfig.read(folder) for folder in folders]
    for folder, config in zip(folders, configs, strict=True):
        if (config.base, config.lora_scale) != (configs[0].base, configs[0].lora_scale):
            parser.error(f"{folder} has another base or lora_scale than {folders[0]}: only like models average")
        if (folder / "cross_encoder").exists():
            parser.error(f"{folder} routes with a cross-encoder: average bi-encoder models (trained with --ce-steps 0)")

    write_soup(folders, args.out)
    print_update_geometry([*folders, args.out], scale=configs[0].lora_scale)
    if not args.no_calibration:
        calibration = recalibrate(args.out)
        print(json.dumps({k: calibration.get(k) for k in ("none_bias", "none_bias_active", "temperature")}))


def write_soup(folders: list[Path], out: Path) -> None:
    """``out``: the first folder's files, with the uniform average of every folder's bi-encoder adapter."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    base = SentenceTransformer(str(minilm_dir()), device="cpu")[0].model
    names = [f"ingredient_{i}" for i in range(len(folders))]
    model = PeftModel.from_pretrained(base, str(folders[0] / BI_ENCODER_DIR), adapter_name=names[0])
    for name, folder in zip(names[1:], folders[1:], strict=True):
        model.load_adapter(str(folder / BI_ENCODER_DIR), adapter_name=name)
    model.add_weighted_adapter(names, [1 / len(names)] * len(names), "soup", combination_type="cat")
    model.set_adapter("soup")
    scratch = out / "_adapters"
    model.save_pretrained(str(scratch), selected_adapters=["soup"])
    (out / BI_ENCODER_DIR).mkdir(parents=True)
    for file in (scratch / "soup").iterdir():
        shutil.move(str(file), out / BI_ENCODER_DIR / file.name)
    shutil.rmtree(scratch)
    for name in (CONFIG_FILE, "training.json", "README.md"):
        shutil.copy(folders[0] / name, out / name)
    meta = json.loads((out / "training.json").read_text(encoding="utf-8"))
    meta["soup_of"] = [str(folder) for folder in folders]
    (out / "training.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")


def print_update_geometry(folders: list[Path], *, scale: float) -> None:
    """The norm of each folder's merged update to MiniLM and the cosine between them (the last: the soup)."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    def weights(folder: Path | None) -> dict[str, torch.Tensor]:
        base = SentenceTransformer(str(minilm_dir()), device="cpu")[0].model
        model = base if folder is None else _merged(PeftModel, base, folder / BI_ENCODER_DIR, scale)
        return {name: tensor.float() for name, tensor in model.state_dict().items()}

    base = weights(None)
    updates = [{name: w[name] - base[name] for name in base} for w in map(weights, folders)]
    soup = updates[-1]
    mean = {name: sum(u[name] for u in updates[:-1]) / (len(updates) - 1) for name in base}
    exact = max((soup[name] - mean[name]).abs().max().item() for name in base)

    def dot(a: dict[str, Any], b: dict[str, Any]) -> float:
        return float(sum((a[name] * b[name]).sum() for name in base))

    print("| folder | norm of its update |\n|---|---|")
    for folder, update in zip(folders, updates, strict=True):
        print(f"| {folder} | {dot(update, update) ** 0.5:.3f} |")
    print(f"\nlargest |soup - mean of the ingredients| in any weight: {exact:.2e}\n")
    print("| ingredients | cosine of their updates |\n|---|---|")
    for i, j in itertools.combinations(range(len(folders) - 1), 2):
        cosine = dot(updates[i], updates[j]) / (dot(updates[i], updates[i]) * dot(updates[j], updates[j])) ** 0.5
        print(f"| {folders[i].name} / {folders[j].name} | {cosine:.3f} |")


if __name__ == "__main__":
    main()
