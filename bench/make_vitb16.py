"""A real-size CLIP model folder with RANDOM weights of ViT-B/16 shape, made through the product's export path.

    python bench/make_vitb16.py OUT_DIR [--layers 12]

Builds a transformers CLIPModel with OpenAI ViT-B/16's configuration (vision: 224 px, patch 16, width 768, 12
layers; text: width 512, 12 layers, context 77; 512-d embeddings) and random weights, saves it as a Hugging Face
folder with a small hand-made BPE tokenizer (no download: the vocabulary's size does not change the model's cost),
then converts it with `framesearch.embedders.export.export_hf_clip`, the code behind `framesearch model export`
(ONNX export, checked against PyTorch). Compute and memory per frame are those of the real model; the vectors
mean nothing. Needs the export extra (torch, transformers): `pip install 'framesearch[export]'`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

CACHED = Path.home() / ".cache" / "framesearch-bench" / "vit-b-16-random"  # shared by the benches that use it
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def make_random_vit_b16(out: Path, layers: int = 12, name: str = "bench/vit-b-16-random") -> Path:
    """Export a random-weight ViT-B/16 CLIP to the model folder `out` (which must not exist); returns `out`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizerFast

    from framesearch.embedders.export import export_hf_clip

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' hand-written CLIP vocabulary
    from tests.helpers.tiny_hf_clip import MERGES, clip_vocab

    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        vocab = clip_vocab()
        (hf / "vocab.json").write_text(json.dumps(vocab))
        (hf / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
        tokenizer = CLIPTokenizerFast.from_pretrained(str(hf))
        text = {
            "vocab_size": 49408,
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_hidden_layers": layers,
            "num_attention_heads": 8,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": 2,
            "pad_token_id": 1,
        }
        vision = {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": layers,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 16,
        }
        torch.manual_seed(0)
        CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=512)).save_pretrained(str(hf))
        tokenizer.save_pretrained(str(hf))
        CLIPImageProcessor(
            size={"shortest_edge": 224},
            crop_size={"height": 224, "width": 224},
            image_mean=list(OPENAI_MEAN),
            image_std=list(OPENAI_STD),
        ).save_pretrained(str(hf))
        return export_hf_clip(str(hf), out, name=name)


def cached_vit_b16() -> Path:
    """The random-weight ViT-B/16 folder kept under ~/.cache/framesearch-bench, made once (needs the export extra)."""
    if not (CACHED / "config.json").is_file():
        shutil.rmtree(CACHED, ignore_errors=True)  # a half-made folder from an interrupted run
        try:
            make_random_vit_b16(CACHED)
        except ImportError as exc:
            raise SystemExit(f"a real-size model needs the export extra (torch, transformers): {exc}") from None
    return CACHED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", type=int, default=12, help="transformer layers per tower (12 = ViT-B/16)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args()
    if args.force and args.out.exists():
        shutil.rmtree(args.out)
    print(f"wrote {make_random_vit_b16(args.out, args.layers)}")


if __name__ == "__main__":
    main()
