"""Write small, deterministic datasets in the real on-disk formats the pipelines read.

    python tools/make_synthetic.py                      # all three under data/synthetic
    python tools/make_synthetic.py --tasks cls --out /tmp/syn --train-per-class 40

* ``imagenet/``: ImageNet folder layout ``{train,val}/<class>/*.JPEG`` (torchvision ImageFolder, timm datasets).
  Classes are shape x colour pairs on textured backgrounds: a small CNN learns them in minutes on a CPU.
* ``coco/``: ``{train2017,val2017}/*.jpg`` and ``annotations/instances_{train2017,val2017}.json`` with boxes and
  polygon masks of the shapes drawn into the images (mmdet CocoDataset, pycocotools).
* ``ade/ADEChallengeData2016/``: ``images/{training,validation}/*.jpg`` and ``annotations/...`` PNG label maps
  (mmseg ADE20KDataset: label 0 is "other" and is ignored with reduce_zero_label, so background is label 1).

Same seed, same bytes. Re-running over an existing folder rewrites it (a stamp file records the arguments, and an
identical request returns at once).
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ('circle', 'square', 'triangle', 'cross')
COLOURS = {'red': (220, 40, 40), 'blue': (40, 70, 220)}
CLASSES = tuple(f'{shape}_{colour}' for shape in SHAPES for colour in COLOURS)  # 8 classification classes
DET_CATEGORIES = ('circle', 'square', 'triangle')  # detection / segmentation foreground classes


def shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list:
    """Polygon (list of (x, y)) of a shape centred at (cx, cy) with circumradius r."""
    if shape == 'circle':
        n, offsets = 24, None
    elif shape == 'square':
        n, offsets = 4, math.pi / 4
    elif shape == 'triangle':
        n, offsets = 3, -math.pi / 2
    elif shape == 'cross':
        w = r * 0.35
        pts = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w),
               (-w, -w)]
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    start = angle + (offsets or 0.0)
    return [(cx + r * math.cos(start + 2 * math.pi * i / n), cy + r * math.sin(start + 2 * math.pi * i / n))
            for i in range(n)]


def background(rng: np.random.Generator, size: int) -> Image.Image:
    """Grey-ish noise with a random low-frequency gradient, so the shapes are not the only structure."""
    base = rng.integers(90, 170, size=3)
    noise = rng.normal(0, 18, size=(size, size, 3))
    ramp = np.linspace(-25, 25, size)[None, :, None] * rng.choice([-1, 1])
    img = np.clip(base[None, None, :] + noise + ramp, 0, 255).astype(np.uint8)
    return Image.fromarray(img)


def jitter_colour(rng: np.random.Generator, rgb) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in rgb)


def make_classification(out: str, rng: np.random.Generator, size: int, train_per_class: int,
                        val_per_class: int) -> dict:
    counts = {}
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        for label, name in enumerate(CLASSES):
            shape, colour = name.split('_')
            folder = os.path.join(out, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                img = background(rng, size)
                r = rng.uniform(0.22, 0.38) * size
                cx, cy = rng.uniform(r, size - r, size=2)
                ImageDraw.Draw(img).polygon(shape_polygon(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)),
                                            fill=jitter_colour(rng, COLOURS[colour]))
                img.save(os.path.join(folder, f'{split}_{label:02d}_{i:04d}.JPEG'), quality=95)
        counts[split] = per_class * len(CLASSES)
    return counts


def draw_scene(rng: np.random.Generator, size: int, max_objects: int):
    """An image with 1..max_objects non-overlapping shapes; returns the image, a label map and the objects."""
    img = background(rng, size)
    label = Image.new('L', (size, size), 1)  # ADE convention: 0 = "other" (ignored), our background = 1
    draw, draw_label = ImageDraw.Draw(img), ImageDraw.Draw(label)
    objects, centres = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            r = rng.uniform(0.12, 0.25) * size
            cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
            if all(math.hypot(cx - x, cy - y) > r + rr + 2 for x, y, rr in centres):
                break
        else:
            continue
        centres.append((cx, cy, r))
        cat = int(rng.integers(len(DET_CATEGORIES)))
        poly = shape_polygon(DET_CATEGORIES[cat], cx, cy, r, rng.uniform(0, 2 * math.pi))
        colour = jitter_colour(rng, tuple(int(c) for c in rng.integers(30, 230, size=3)))
        draw.polygon(poly, fill=colour)
        draw_label.polygon(poly, fill=cat + 2)
        objects.append((cat, poly))
    return img, label, objects


def polygon_area(poly) -> float:
    xs, ys = np.array([p[0] for p in poly]), np.array([p[1] for p in poly])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def make_coco(out: str, rng: np.random.Generator, size: int, n_train: int, n_val: int) -> dict:
    os.makedirs(os.path.join(out, 'annotations'), exist_ok=True)
    counts = {}
    for split, n in (('train2017', n_train), ('val2017', n_val)):
        os.makedirs(os.path.join(out, split), exist_ok=True)
        images, annotations = [], []
        for i in range(n):
            img, _, objects = draw_scene(rng, size, max_objects=4)
            name = f'{i:012d}.jpg'
            img.save(os.path.join(out, split, name), quality=95)
            images.append(dict(id=i + 1, file_name=name, width=size, height=size))
            for cat, poly in objects:
                xs, ys = [p[0] for p in poly], [p[1] for p in poly]
                x0, y0 = max(min(xs), 0.0), max(min(ys), 0.0)
                x1, y1 = min(max(xs), size), min(max(ys), size)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=i + 1, category_id=cat + 1, iscrowd=0,
                    bbox=[round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    area=round(polygon_area(poly), 2),
                    segmentation=[[round(v, 2) for p in poly for v in p]]))
        categories = [dict(id=k + 1, name=name, supercategory='shape') for k, name in enumerate(DET_CATEGORIES)]
        with open(os.path.join(out, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
        counts[split] = dict(images=n, objects=len(annotations))
    return counts


def make_ade(out: str, rng: np.random.Generator, size: int, n_train: int, n_val: int) -> dict:
    root = os.path.join(out, 'ADEChallengeData2016')
    counts = {}
    for split, n in (('training', n_train), ('validation', n_val)):
        img_dir = os.path.join(root, 'images', split)
        ann_dir = os.path.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(n):
            img, label, _ = draw_scene(rng, size, max_objects=4)
            stem = f'ADE_{split[:5]}_{i:08d}'
            img.save(os.path.join(img_dir, stem + '.jpg'), quality=95)
            label.save(os.path.join(ann_dir, stem + '.png'))
        counts[split] = n
    return counts


def generate(out: str = 'data/synthetic', tasks=('cls', 'det', 'seg'), seed: int = 0, cls_size: int = 64,
             train_per_class: int = 60, val_per_class: int = 20, det_size: int = 128, det_train: int = 48,
             det_val: int = 16, seg_size: int = 128, seg_train: int = 48, seg_val: int = 16,
             quiet: bool = False) -> dict:
    """Generate the requested datasets under ``out``; returns a summary dict (also written as ``out/stamp.json``)."""
    request = dict(tasks=sorted(tasks), seed=seed, cls_size=cls_size, train_per_class=train_per_class,
                   val_per_class=val_per_class, det_size=det_size, det_train=det_train, det_val=det_val,
                   seg_size=seg_size, seg_train=seg_train, seg_val=seg_val, version=1)
    stamp = os.path.join(out, 'stamp.json')
    if os.path.isfile(stamp):
        with open(stamp) as f:
            previous = json.load(f)
        if previous.get('request') == request:
            if not quiet:
                print(f'[synthetic] up to date: {out}')
            return previous
    makers = dict(
        cls=('imagenet', lambda d, r: make_classification(d, r, cls_size, train_per_class, val_per_class)),
        det=('coco', lambda d, r: make_coco(d, r, det_size, det_train, det_val)),
        seg=('ade', lambda d, r: make_ade(d, r, seg_size, seg_train, seg_val)),
    )
    summary = dict(request=request, paths={}, counts={})
    for task in tasks:
        if task not in makers:
            raise SystemExit(f'unknown task {task!r}: expected one of {sorted(makers)}')
        folder, maker = makers[task]
        path = os.path.join(out, folder)
        shutil.rmtree(path, ignore_errors=True)
        # one generator per task, so each dataset does not depend on which others were requested
        rng = np.random.default_rng([seed, ('cls', 'det', 'seg').index(task)])
        summary['counts'][task] = maker(path, rng)
        summary['paths'][task] = path
        if not quiet:
            print(f'[synthetic] {task}: {path} {summary["counts"][task]}')
    with open(stamp, 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/synthetic')
    parser.add_argument('--tasks', default='cls,det,seg', help='comma list of cls, det, seg')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cls-size', type=int, default=64)
    parser.add_argument('--train-per-class', type=int, default=60)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--det-size', type=int, default=128)
    parser.add_argument('--det-train', type=int, default=48)
    parser.add_argument('--det-val', type=int, default=16)
    parser.add_argument('--seg-size', type=int, default=128)
    parser.add_argument('--seg-train', type=int, default=48)
    parser.add_argument('--seg-val', type=int, default=16)
    args = parser.parse_args(argv)
    generate(args.out, tuple(t for t in args.tasks.split(',') if t), args.seed, args.cls_size,
             args.train_per_class, args.val_per_class, args.det_size, args.det_train, args.det_val,
             args.seg_size, args.seg_train, args.seg_val)


if __name__ == '__main__':
    sys.exit(main())
