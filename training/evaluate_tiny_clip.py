"""Evaluate an exported CLIP model folder on held-out synthetic shape scenes.

Loads the folder with onnxruntime + tokenizers only, preprocessing exactly as
framesearch does (shorter side -> image_size bicubic, centre crop, /255,
mean/std, CHW), and prints retrieval figures::

    python -m training.evaluate_tiny_clip --model embedders/models/tiny-shapes-clip
"""

from __future__ import annotations

import argparse
import io
import json
import sys

import numpy as np
from PIL import Image

from framesearch.embedders.onnx_clip import OnnxClip as ProductClip
from training.shapes import (
    BACKGROUNDS,
    COLORS,
    SHAPES,
    TEMPLATES,
    make_caption,
    render_scene,
    sample_scenes,
)

#: Seed for held-out scenes; training uses other seeds (see train_tiny_clip.py).
HELDOUT_SEED = 987_654_321


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (bicubic) and centre-crop to a square."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


class OnnxClip(ProductClip):
    """The product's own model-folder loader (same preprocessing and tokenisation), fed PIL images."""

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:  # type: ignore[override]
        """L2-normalised image embeddings [N, D]."""
        return super().embed_images([np.asarray(im.convert("RGB")) for im in images])


def class_queries() -> list[tuple[str, str]]:
    """All 24 (colour, shape) pairs in a fixed order."""
    return [(c, s) for c in COLORS for s in SHAPES]


def classification_accuracy(model: OnnxClip, images: list[Image.Image], labels: list[tuple[str, str]]) -> dict:
    """Top-1 accuracy of picking the right caption among the 24 "a {colour} {shape}"."""
    queries = class_queries()
    text = model.embed_texts([f"a {c} {s}" for c, s in queries])
    pred = (model.embed_images(images) @ text.T).argmax(axis=1)
    guess = [queries[i] for i in pred]
    n = len(labels)
    return {
        "top1_shape_color": sum(g == t for g, t in zip(guess, labels, strict=True)) / n,
        "top1_color": sum(g[0] == t[0] for g, t in zip(guess, labels, strict=True)) / n,
        "top1_shape": sum(g[1] == t[1] for g, t in zip(guess, labels, strict=True)) / n,
    }


def retrieval_precision(model: OnnxClip, images: list[Image.Image], labels: list[tuple[str, str]], k: int) -> dict:
    """Precision@k of text->image retrieval for each of the 24 queries."""
    emb = model.embed_images(images)
    out = {}
    for c, s in class_queries():
        q = model.embed_texts([f"a photo of a {c} {s}"])[0]
        top = np.argsort(-(emb @ q))[:k]
        out[f"{c} {s}"] = float(np.mean([labels[i] == (c, s) for i in top]))
    return out


def r_precision(model: OnnxClip, images: list[Image.Image], labels: list[tuple[str, str]]) -> float:
    """Mean R-precision over the 24 queries (precision@R, R = number of matching images)."""
    emb = model.embed_images(images)
    out = []
    for c, s in class_queries():
        relevant = sum(lab == (c, s) for lab in labels)
        q = model.embed_texts([f"{c} {s}"])[0]
        top = np.argsort(-(emb @ q))[:relevant]
        out.append(np.mean([labels[i] == (c, s) for i in top]))
    return float(np.mean(out))


def background_accuracy(model: OnnxClip, scenes: list) -> float:
    """Top-1 accuracy of naming the background among "a {c} {s} on a {bg} background" captions."""
    emb = model.embed_images([sc.image for sc in scenes])
    hits = 0
    for e, sc in zip(emb, scenes, strict=True):
        a = sc.attributes
        bgs = [b for b in BACKGROUNDS if b != a["color"]]
        texts = [make_caption(a["shape"], a["color"], b, TEMPLATES[5]) for b in bgs]
        hits += bgs[int(np.argmax(model.embed_texts(texts) @ e))] == a["background"]
    return hits / len(scenes)


def heldout_scenes(n: int, frame: tuple[int, int] = (320, 240), seed: int = HELDOUT_SEED):
    """Held-out images and their (colour, shape) labels, rendered at ``frame`` size."""
    scenes = sample_scenes(seed, n, frame)
    return [sc.image for sc in scenes], [(sc.attributes["color"], sc.attributes["shape"]) for sc in scenes]


def jpeg(images: list[Image.Image], quality: int) -> list[Image.Image]:
    """Round-trip images through JPEG at ``quality``."""
    out = []
    for im in images:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        out.append(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def h264(images: list[Image.Image], crf: int = 28) -> list[Image.Image] | None:
    """Encode images as an H.264 clip (one frame each) with PyAV and decode them; None without PyAV."""
    try:
        import av
    except ImportError:
        return None
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=5, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        for im in images:
            box.mux(stream.encode(av.VideoFrame.from_image(im)))
        box.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as box:
        return [f.to_image() for f in box.decode(video=0)]


def green_triangle_check(model: OnnxClip, seed: int = HELDOUT_SEED + 1) -> bool:
    """ "a green triangle" must rank a green triangle above other shapes/colours."""
    rng = np.random.default_rng(seed)
    combos = [("triangle", "green")] + [(s, c) for c, s in class_queries() if (c, s) != ("green", "triangle")]
    images = []
    for s, c in combos:
        bgs = [b for b in BACKGROUNDS if b != c]
        images.append(
            render_scene(
                s,
                c,
                bgs[rng.integers(len(bgs))],
                float(rng.uniform(0.35, 0.6)),
                (0.5, 0.5),
                image_size=(320, 240),
                rotation=float(rng.uniform(-20, 20)),
            )
        )
    scores = model.embed_images(images) @ model.embed_texts(["a green triangle"])[0]
    return int(np.argmax(scores)) == 0


def two_shape_figures(model: OnnxClip, n: int = 240, seed: int = HELDOUT_SEED + 3) -> dict:
    """Held-out frames with two shapes side by side (training/composite.py's layout, an unseen seed): both shapes
    among the top 2 of the 24 captions; each true caption above both cross pairs (the colour of one shape with the
    shape of the other: "a red circle" for a red square beside a blue circle); text->image R-precision per pair."""
    from training.composite import _two_shapes

    rng = np.random.default_rng(seed)
    frames = [_two_shapes(rng, (320, 240)) for _ in range(n)]
    colours, queries = list(COLORS), class_queries()
    pairs = [{(colours[lab[1]], SHAPES[lab[0]]), (colours[lab[3]], SHAPES[lab[2]])} for _, lab in frames]
    scores = model.embed_images([im for im, _ in frames]) @ model.embed_texts([f"a {c} {s}" for c, s in queries]).T
    both = bound = 0
    for row, truth in zip(scores, pairs, strict=True):
        top = {queries[i] for i in np.argsort(-row)[:2]}
        both += top == truth
        (c1, s1), (c2, s2) = sorted(truth)
        cross = [(c1, s2), (c2, s1)]
        lowest = min(row[queries.index(t)] for t in truth)
        bound += all(row[queries.index(x)] < lowest for x in cross if x not in truth)
    rprec = []
    for j, q in enumerate(queries):
        relevant = [i for i, t in enumerate(pairs) if q in t]
        if relevant:
            top = np.argsort(-scores[:, j])[: len(relevant)]
            rprec.append(len(set(top.tolist()) & set(relevant)) / len(relevant))
    return {"two_shape_top2": both / n, "two_shape_binding": bound / n, "two_shape_r_precision": float(np.mean(rprec))}


def yellow_star_check(model: OnnxClip) -> bool:
    """ "a yellow star" puts a yellow star scene above a yellow triangle scene (both beside another shape)."""
    from training.scene_videos import Scene, Shape, draw

    def scene(shape: str) -> Image.Image:
        main = Shape(shape, "yellow", (0.38, 0.35), (0.38, 0.35), (0.3, 0.3))
        other = Shape("circle", "blue", (0.62, 0.65), (0.62, 0.65), (0.3, 0.3))
        return draw(Scene(0, 1, "gray", (main, other)), 0.5)

    scores = model.embed_images([scene("star"), scene("triangle")]) @ model.embed_texts(["a yellow star"])[0]
    return bool(scores[0] > scores[1])


def evaluate(model: OnnxClip, n: int, k: int) -> dict:
    """All figures on ``n`` held-out 320x240 scenes, clean and after JPEG / H.264 round-trips."""
    images, labels = heldout_scenes(n)
    results = {"n_images": n, "clean": classification_accuracy(model, images, labels)}
    results["jpeg_q30"] = classification_accuracy(model, jpeg(images, 30), labels)
    for crf in (28, 40):
        video = h264(images, crf)
        if video is not None:
            results[f"h264_crf{crf}"] = classification_accuracy(model, video, labels)
    small = [im.resize((80, 60), Image.Resampling.BILINEAR) for im in images]
    results["tiny_80x60_jpeg_q50"] = classification_accuracy(model, jpeg(small, 50), labels)
    prec = retrieval_precision(model, images, labels, k)
    results[f"precision_at_{k}"] = prec
    results[f"mean_precision_at_{k}"] = float(np.mean(list(prec.values())))
    results["mean_r_precision"] = r_precision(model, images, labels)
    results["background_top1"] = background_accuracy(model, sample_scenes(HELDOUT_SEED + 2, 240, (320, 240)))
    results["green_triangle_ranked_first"] = green_triangle_check(model)
    results.update(two_shape_figures(model))
    results["yellow_star_above_yellow_triangle"] = yellow_star_check(model)
    return results


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 if the green-triangle check fails."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedders/models/tiny-shapes-clip")
    ap.add_argument("--n", type=int, default=960, help="held-out images")
    ap.add_argument("--k", type=int, default=10, help="k for precision@k")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args(argv)
    res = evaluate(OnnxClip(args.model), args.n, args.k)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        _print(res, args.k)
    return 0 if res["green_triangle_ranked_first"] else 1


def _print(res: dict, k: int) -> None:
    print(f"held-out images: {res['n_images']} (chance: shape+colour 1/24 = 4.2%)")
    for key in ("clean", "jpeg_q30", "h264_crf28", "h264_crf40", "tiny_80x60_jpeg_q50"):
        if key in res:
            r = res[key]
            print(
                f"{key:>19}: top-1 shape+colour {r['top1_shape_color']:.1%}  "
                f"colour {r['top1_color']:.1%}  shape {r['top1_shape']:.1%}"
            )
    print(f"background named correctly (among 10): {res['background_top1']:.1%}")
    print(f"text->image mean R-precision (24 queries): {res['mean_r_precision']:.1%}")
    print(f"text->image precision@{k} (mean {res[f'mean_precision_at_{k}']:.1%}):")
    for q, p in res[f"precision_at_{k}"].items():
        print(f"  {q:<16} {p:.0%}")
    print(f"'a green triangle' ranks the green triangle first: {res['green_triangle_ranked_first']}")
    print(f"two shapes side by side: both among the top 2 captions {res['two_shape_top2']:.1%}, ", end="")
    print(f"true pairs above the cross pairs {res['two_shape_binding']:.1%}, R-precision {res['two_shape_r_precision']:.1%}")
    print(f"'a yellow star' ranks a yellow star above a yellow triangle: {res['yellow_star_above_yellow_triangle']}")


if __name__ == "__main__":
    sys.exit(main())
