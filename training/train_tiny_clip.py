"""Train a tiny CLIP on synthetic shape scenes and export it as a framesearch model folder.

CPU only, a few minutes on 2 cores::

    python -m training.train_tiny_clip --out embedders/models/tiny-shapes-clip

The folder follows docs/model-format.md: config.json, visual.onnx, textual.onnx,
tokenizer.json. Evaluate it with ``python -m training.evaluate_tiny_clip``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from torch import nn

from training.composite import EXTRA_WORDS, ONE, positives, sample_caption, sample_frame
from training.evaluate_tiny_clip import HELDOUT_SEED, resize_center_crop
from training.shapes import BACKGROUNDS, COLORS, SHAPES, TEMPLATES

MODEL_NAME = "framesearch/tiny-shapes-clip"
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.3, 0.3, 0.3)
PAD, UNK = "[PAD]", "[UNK]"
#: Frame sizes rendered before the product-style resize + centre crop (varied aspect).
FRAMES = ((64, 64), (96, 96), (80, 60), (96, 72), (128, 96), (160, 120), (128, 72), (160, 90), (320, 240))
#: Words never in the vocabulary, inserted into captions so [UNK] learns to mean nothing.
#: Hard negatives (negative_captions): shapes the model must not confuse with its own.
UNKNOWN_SHAPES = ("hexagon", "heart", "cross", "oval", "arrow")
NEGATIVE_TEMPLATES = ("a {}", "a photo of a {}", "{}")
NOISE_WORDS = ("please", "show", "me", "frame", "with", "video", "the", "moment", "thing")


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer() -> Tokenizer:
    """WordLevel tokenizer over the caption vocabulary: lowercase, whitespace split, [PAD]=0."""
    words: set[str] = set(SHAPES) | set(COLORS) | set(BACKGROUNDS)
    for t in TEMPLATES:
        words |= {w for w in t.split() if not w.startswith("{")}
    words |= {"an", "a"} | set(EXTRA_WORDS)
    vocab = {PAD: 0, UNK: 1} | {w: i + 2 for i, w in enumerate(sorted(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def configure(tok: Tokenizer, context_length: int, pad_id: int = 0) -> Tokenizer:
    """Truncate/pad exactly as framesearch does."""
    tok.enable_truncation(context_length)
    tok.enable_padding(length=context_length, pad_id=pad_id, pad_token=PAD)
    return tok


def encode(tok: Tokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids [N, L] (int64) for ``texts``."""
    return torch.tensor([e.ids for e in tok.encode_batch(texts)], dtype=torch.int64)


# --------------------------------------------------------------------------- data


def degrade(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Mild video-like damage: blur, down/up-scaling and JPEG compression."""
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    if rng.random() < 0.3:
        w, h = img.size
        f = rng.uniform(0.4, 0.8)
        img = img.resize((max(8, int(w * f)), max(8, int(h * f))), Image.Resampling.BILINEAR)
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < 0.8:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(15, 91)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def render_chunk(job: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Render ``count`` frames (training/composite.py): uint8 pixels [n,S,S,3] and label rows [n,6]."""
    seed, chunk, count, size = job
    rng = np.random.default_rng([seed, chunk])
    pixels = np.empty((count, size, size, 3), np.uint8)
    labels = np.empty((count, 6), np.int64)
    for i in range(count):
        frame = FRAMES[rng.integers(len(FRAMES))]
        img, labels[i] = sample_frame(rng, frame)
        pixels[i] = np.asarray(resize_center_crop(degrade(img, rng), size))
    return pixels, labels


def render_pool(n: int, seed: int, size: int, workers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-render ``n`` degraded scenes in parallel (deterministic for ``seed``)."""
    assert seed != HELDOUT_SEED, "the held-out seed is reserved for evaluation"
    chunk = 500
    jobs = [(seed, c, min(chunk, n - c * chunk), size) for c in range(math.ceil(n / chunk))]
    with Pool(workers) as pool:
        parts = pool.map(render_chunk, jobs)
    pixels = torch.from_numpy(np.concatenate([p for p, _ in parts])).permute(0, 3, 1, 2).contiguous()
    return pixels, torch.from_numpy(np.concatenate([lab for _, lab in parts]))


def sample_captions(labels: torch.Tensor, rng: np.random.Generator) -> tuple[list[str], torch.Tensor]:
    """One random caption per label row, and caption labels (training/composite.py)."""
    texts, cap = [], labels.clone()
    for i, row in enumerate(labels.tolist()):
        text, cap_row = sample_caption(row, rng)
        cap[i] = torch.tensor(cap_row)
        if rng.random() < 0.15:
            words = text.split()
            words.insert(int(rng.integers(len(words) + 1)), NOISE_WORDS[rng.integers(len(NOISE_WORDS))])
            text = " ".join(words)
        if rng.random() < 0.2:
            text = text.upper() if rng.random() < 0.5 else text.capitalize()
        texts.append(text)
    return texts, cap


def augment(pixels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 [B,3,S,S] -> normalised float with flips, brightness/contrast jitter and noise."""
    x = pixels.float() / 255.0
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.3
    bias = (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.1
    sigma = torch.rand(b, 1, 1, 1, generator=gen) * 0.03
    x = (x * gain + bias + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    mean, std = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------- model


def conv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    """3x3 conv + batch norm + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ImageTower(nn.Module):
    """Small CNN: [N,3,S,S] -> [N,D]."""

    def __init__(self, dim: int, width: int = 24) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            conv_block(3, w, 2),
            conv_block(w, w, 1),  # S/2
            conv_block(w, 2 * w, 2),
            conv_block(2 * w, 2 * w, 1),  # S/4
            conv_block(2 * w, 4 * w, 2),
            conv_block(4 * w, 4 * w, 1),  # S/8
            conv_block(4 * w, 4 * w, 2),  # S/16
        )
        self.proj = nn.Linear(4 * w, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.net(x).mean(dim=(2, 3)))


class Block(nn.Module):
    """Pre-norm transformer block with a key padding mask."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(n, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(width // self.heads) + bias
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(n, length, width)
        x = x + self.out(y)
        return x + self.mlp(self.ln2(x))


class TextTower(nn.Module):
    """Token embedding + small transformer + masked mean over non-pad tokens: [N,L] -> [N,D]."""

    def __init__(
        self, vocab: int, dim: int, context: int, width: int = 64, layers: int = 2, heads: int = 4, pad_id: int = 0
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(context, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Linear(width, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != self.pad_id).to(torch.float32)  # [N, L]
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        bias = ((1.0 - keep) * -1e4)[:, None, None, :]
        for block in self.blocks:
            x = block(x, bias)
        x = self.ln(x)
        pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1.0)
        return self.proj(pooled)


class TinyClip(nn.Module):
    """Both towers and a learnable temperature."""

    def __init__(self, vocab: int, dim: int, context: int) -> None:
        super().__init__()
        self.visual = ImageTower(dim)
        self.textual = TextTower(vocab, dim, context)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def negative_captions(rng: np.random.Generator, n: int) -> tuple[list[str], torch.Tensor]:
    """Captions no frame shows: a shape in a colour only backgrounds have ("a pink star"), or an unknown shape in
    a known colour ("a red hexagon", the shape word [UNK]); with no image to match they teach the model that a
    near miss in words is not a match."""
    texts, rows = [], []
    shape_colours = set(COLORS)
    back_only = [b for b in BACKGROUNDS if b not in shape_colours]
    for _ in range(n):
        if rng.random() < 0.6:
            colour, shape = back_only[rng.integers(len(back_only))], SHAPES[rng.integers(len(SHAPES))]
        else:
            colour, shape = list(COLORS)[rng.integers(len(COLORS))], UNKNOWN_SHAPES[rng.integers(len(UNKNOWN_SHAPES))]
        template = NEGATIVE_TEMPLATES[rng.integers(len(NEGATIVE_TEMPLATES))]
        texts.append(template.format(f"{colour} {shape}"))
        rows.append([-2, -2, -1, -1, -1, ONE])  # matches no frame (positives() never pairs it)
    return texts, torch.tensor(rows, dtype=torch.int64)


def clip_loss(
    model: TinyClip, img: torch.Tensor, ids: torch.Tensor, img_lab: torch.Tensor, cap_lab: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE where every caption that truly describes an image is a positive."""
    a = F.normalize(model.visual(img), dim=-1)
    b = F.normalize(model.textual(ids), dim=-1)
    logits = model.logit_scale.clamp(max=math.log(100)).exp() * a @ b.T
    pos = positives(img_lab, cap_lab)  # [images, captions]; each image's own caption is a positive
    i2t = -(pos / pos.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    shown = pos.sum(0) > 0  # hard negatives (captions no image shows) only compete in the image->text direction
    t2i = -(pos[:, shown] / pos[:, shown].sum(0, keepdim=True) * logits[:, shown].log_softmax(0)).sum(0).mean()
    return (i2t + t2i) / 2


# --------------------------------------------------------------------------- training


@torch.no_grad()
def val_accuracy(model: TinyClip, tok: Tokenizer, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 shape+colour accuracy of the one-shape frames against the 24 "a {colour} {shape}" captions."""
    single = (labels[:, 5] == ONE) & (labels[:, 2] < 0)
    pixels, labels = pixels[single], labels[single]
    model.eval()
    pairs = [(c, s) for c in range(len(COLORS)) for s in range(len(SHAPES))]
    text = encode(tok, [f"a {list(COLORS)[c]} {SHAPES[s]}" for c, s in pairs])
    t = F.normalize(model.textual(text), dim=-1)
    mean, std = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    i = F.normalize(model.visual((pixels.float() / 255 - mean) / std), dim=-1)
    pred = torch.tensor(pairs)[(i @ t.T).argmax(1)]
    model.train()
    return (pred == labels[:, [1, 0]]).all(1).float().mean().item()


def train(
    model: TinyClip,
    tok: Tokenizer,
    data: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    args: argparse.Namespace,
) -> None:
    """AdamW with warm-up + cosine decay on random batches from the pre-rendered pool."""
    pixels, labels = data
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, 1])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, args.steps))))
    )
    start = time.time()
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(pixels), (args.batch,), generator=gen)
        texts, cap = sample_captions(labels[idx], rng)
        if args.negatives:
            more, more_labels = negative_captions(rng, args.negatives)
            texts, cap = texts + more, torch.cat([cap, more_labels])
        loss = clip_loss(model, augment(pixels[idx], gen), encode(tok, texts), labels[idx], cap)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % args.log_every == 0 or step == args.steps:
            acc = val_accuracy(model, tok, *val)
            print(
                f"step {step:5d}  loss {loss.item():.3f}  scale {model.logit_scale.exp().item():5.1f}  "
                f"val top-1 {acc:.1%}  {time.time() - start:5.0f}s",
                flush=True,
            )


# --------------------------------------------------------------------------- export


def export(model: TinyClip, tok: Tokenizer, out: Path, args: argparse.Namespace) -> None:
    """Write config.json, visual.onnx, textual.onnx and tokenizer.json to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    s, length = args.image_size, args.context_length
    torch.onnx.export(
        model.visual,
        (torch.zeros(2, 3, s, s),),
        str(out / "visual.onnx"),
        input_names=["pixel_values"],
        output_names=["image_embeds"],
        dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    torch.onnx.export(
        model.textual,
        (torch.ones(2, length, dtype=torch.int64),),
        str(out / "textual.onnx"),
        input_names=["input_ids"],
        output_names=["text_embeds"],
        dynamic_axes={"input_ids": {0: "batch"}, "text_embeds": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    tok.no_padding()
    tok.no_truncation()
    tok.save(str(out / "tokenizer.json"))
    config = {
        "name": MODEL_NAME,
        "aliases": [],
        "embed_dim": args.embed_dim,
        "image_size": s,
        "image_mean": list(IMAGE_MEAN),
        "image_std": list(IMAGE_STD),
        "context_length": length,
        "pad_token_id": tok.token_to_id(PAD),
        "default_threshold": 0.7,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("embedders/models/tiny-shapes-clip"))
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--context-length", type=int, default=16)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--pool", type=int, default=32000, help="pre-rendered training scenes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--negatives", type=int, default=32, help="hard-negative captions added to each batch")
    ap.add_argument("--log-every", type=int, default=100)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Render data, train, export."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    tok = configure(build_tokenizer(), args.context_length)
    data = render_pool(args.pool, args.seed, args.image_size, args.threads)
    val = render_pool(480, args.seed + 1, args.image_size, args.threads)
    print(f"rendered {len(data[0])} training scenes in {time.time() - t0:.0f}s", flush=True)
    model = TinyClip(tok.get_vocab_size(), args.embed_dim, args.context_length)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
    train(model, tok, data, val, args)
    export(model, tok, args.out, args)
    print(f"exported to {args.out} after {time.time() - t0:.0f}s total", flush=True)


if __name__ == "__main__":
    main()
