"""Tiny RANDOM CLIPs for the export tests: a Hugging Face CLIPModel folder and a stand-in `open_clip` module.

Both use a hand-written CLIP BPE vocabulary (the 26 letters, a few merges, <|startoftext|>, <|endoftext|> last, so
the end-of-text token has the highest id as in OpenAI's vocabulary). Needs torch and transformers.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

MERGES = ["r e", "re d</w>", "b l", "bl u", "blu e</w>", "c a", "ca t</w>"]
CONTEXT = 16
IMAGE = 32
DIM = 16


def clip_vocab() -> dict[str, int]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {c: i for i, c in enumerate(letters)}
    vocab.update({c + "</w>": len(letters) + i for i, c in enumerate(letters)})
    for merge in MERGES:
        vocab["".join(merge.split())] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def build_tiny_hf_clip(folder: Path, legacy_eos: bool = True) -> Path:
    """save_pretrained a random CLIPModel, its CLIPTokenizerFast and CLIPImageProcessor into `folder`.

    `legacy_eos` writes eos_token_id 2 like OpenAI's hub configs (pooling at argmax of the ids); otherwise the real
    end-of-text id (pooling at its first occurrence).
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = clip_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    tokenizer = CLIPTokenizerFast.from_pretrained(str(folder))
    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftext|>"]
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    text = {**layers, "vocab_size": len(vocab), "max_position_embeddings": CONTEXT, "bos_token_id": sot, "pad_token_id": 1}
    text["eos_token_id"] = 2 if legacy_eos else eot
    config = CLIPConfig(text_config=text, vision_config={**layers, "image_size": IMAGE, "patch_size": 8}, projection_dim=DIM)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    processor = CLIPImageProcessor(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE})
    processor.save_pretrained(str(folder))
    return folder


def _tiny_open_clip_model(vocab_size: int):
    """An open_clip-like CLIP: encode_text pools at argmax of the int64 ids, encode_image; random weights."""
    import torch
    from torch import nn

    class Visual(nn.Module):
        image_size = (IMAGE, IMAGE)
        image_mean = (0.5, 0.4, 0.3)
        image_std = (0.2, 0.25, 0.3)

        def __init__(self) -> None:
            super().__init__()
            self.patches = nn.Conv2d(3, 32, kernel_size=8, stride=8)
            self.proj = nn.Linear(32, DIM)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(torch.tanh(self.patches(x)).flatten(2).mean(-1))

    class TinyOpenClip(nn.Module):
        context_length = CONTEXT

        def __init__(self) -> None:
            super().__init__()
            self.visual = Visual()
            self.token_embedding = nn.Embedding(vocab_size, 32)
            self.positional_embedding = nn.Parameter(torch.randn(CONTEXT, 32) * 0.1)
            self.qkv = nn.Linear(32, 96)
            self.ln_final = nn.LayerNorm(32)
            self.text_projection = nn.Parameter(torch.randn(32, DIM) * 0.2)
            self.register_buffer("attn_mask", torch.full((CONTEXT, CONTEXT), float("-inf")).triu(1))

        def encode_text(self, text: torch.Tensor) -> torch.Tensor:
            x = self.token_embedding(text) + self.positional_embedding
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            attention = torch.softmax(q @ k.transpose(1, 2) / 32**0.5 + self.attn_mask, dim=-1)
            x = self.ln_final(x + attention @ v)
            return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

        def encode_image(self, image: torch.Tensor) -> torch.Tensor:
            return self.visual(image)

    torch.manual_seed(1)
    return TinyOpenClip().eval()


def fake_open_clip(tokenizer_json: Path) -> types.ModuleType:
    """A module with open_clip's API (create_model_and_transforms, get_tokenizer, get_model_preprocess_cfg)."""
    import torch
    from tokenizers import Tokenizer

    vocab = clip_vocab()
    bpe = Tokenizer.from_file(str(tokenizer_json))
    bpe.no_padding()
    module = types.ModuleType("open_clip")
    module.created = []

    def create_model_and_transforms(arch: str, pretrained: str | None = None, **_: object):
        if arch != "ViT-B-16":
            raise RuntimeError(f"Model config for {arch} not found.")
        model = _tiny_open_clip_model(len(vocab))
        module.created.append(model)
        return model, None, None

    def tokenize(texts: list[str]) -> torch.Tensor:
        """open_clip's way: sot + BPE ids, cut to the context with eot last, zero padding."""
        rows = torch.zeros(len(texts), CONTEXT, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = bpe.encode(text, add_special_tokens=False).ids[: CONTEXT - 2]
            tokens = [vocab["<|startoftext|>"], *ids, vocab["<|endoftext|>"]]
            rows[i, : len(tokens)] = torch.tensor(tokens)
        return rows

    tokenize.context_length = CONTEXT
    module.create_model_and_transforms = create_model_and_transforms
    module.get_tokenizer = lambda arch: tokenize
    module.get_model_preprocess_cfg = lambda model: {
        "size": model.visual.image_size,
        "mean": model.visual.image_mean,
        "std": model.visual.image_std,
    }
    return module
