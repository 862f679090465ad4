"""ImageNet folders, timm transforms and samplers, with one-line errors for bad data.

The folder reader is ours (not torchvision's ``ImageFolder`` or timm's ``ImageDataset``) for two reasons: a class
folder without images must be an error rather than a silently missing class, and an unreadable image must stop
the run naming the file (timm's dataset logs a warning and quietly substitutes the next sample).
Everything else -- transforms, RandAugment, random erasing, mixup/cutmix, the repeated-augmentation sampler --
is timm's.
"""
import math
import os
import random
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from PIL import Image, ImageFilter, ImageOps
from torchvision import transforms
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from timm.data import Mixup, create_transform
from timm.data import auto_augment as _auto_augment
from timm.data.transforms import RandomResizedCropAndInterpolation
from timm.data.distributed_sampler import RepeatAugSampler

from .errors import DataError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def scan_split(root: str, class_names: Optional[Sequence[str]] = None) -> Tuple[List[str], List[Tuple[str, int]]]:
    """Class folders of ``root`` (sorted) and (path, label) samples; every folder must hold an image."""
    if not os.path.isdir(root):
        raise DataError(f'data folder not found: {root}')
    found = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith('.'))
    if not found:
        raise DataError(f'no class folders in {root} (expected {root}/<class>/<image>)')
    if class_names is not None:
        extra = sorted(set(found) - set(class_names))
        if extra:
            raise DataError(f'{root} has class folders the training split lacks: {", ".join(extra[:3])}')
    names = list(class_names) if class_names is not None else found
    index = {name: i for i, name in enumerate(names)}
    samples: List[Tuple[str, int]] = []
    for name in found:
        folder = os.path.join(root, name)
        files = sorted(
            os.path.join(dirpath, f) for dirpath, _, filenames in os.walk(folder, followlinks=True)
            for f in filenames if f.lower().endswith(IMG_EXTENSIONS))
        if not files:
            raise DataError(f'class folder has no images: {folder} (extensions {", ".join(IMG_EXTENSIONS)})')
        samples.extend((path, index[name]) for path in files)
    return names, samples


class ImageFolderDataset(Dataset):
    """``root/<class>/**/<image>``; labels follow the sorted class names (of the training split, for val)."""

    def __init__(self, root: str, transform=None, class_names: Optional[Sequence[str]] = None):
        self.root = root
        self.classes, self.samples = scan_split(root, class_names)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            with open(path, 'rb') as f:
                img = Image.open(f)
                img = img.convert('RGB')  # forces the decode, so truncated files fail here
        except Exception as err:  # PIL raises many types (OSError, SyntaxError, ValueError ...)
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(f'unreadable image {path}: {reason}') from None
        if self.transform is not None:
            img = self.transform(img)
        return img, label


def split_dir(data_path: str, split: str) -> str:
    if not os.path.isdir(data_path):
        raise DataError(f'data path not found: {data_path}')
    if not any(True for _ in os.scandir(data_path)):
        raise DataError(f'data path is empty: {data_path} (expected train/ and val/ class folders)')
    path = os.path.join(data_path, split)
    if not os.path.isdir(path):
        raise DataError(f'missing {split}/ folder in {data_path} (expected {data_path}/{split}/<class>/<image>)')
    return path


def imagenet_class_names(val_dir: str) -> Optional[List[str]]:
    """ImageNet-1k's 1000 synsets in label order when every class folder of ``val_dir`` is one of them (a subset of
    ImageNet evaluated with a 1k classifier), else None (labels follow the folders' sorted order)."""
    from timm.data import ImageNetInfo
    synsets = list(ImageNetInfo('imagenet-1k').label_names())
    found = {e.name for e in os.scandir(val_dir) if e.is_dir() and not e.name.startswith('.')}
    return synsets if found and found <= set(synsets) else None


def other_datasets(args, train: bool):
    """--data-set CIFAR (CIFAR-100, torchvision's files in --data-path, as the DeiT-derived repos read it); the
    iNaturalist sets of those repos need their json split files, which no library here reads."""
    if args.data_set in ('INAT', 'INAT19'):
        raise DataError(f'--data-set {args.data_set}: iNaturalist is read from class folders here; arrange it as '
                        f'train/<class>/ and val/<class>/ under --data-path and leave --data-set IMNET')
    from torchvision.datasets import CIFAR100
    try:
        train_set = CIFAR100(args.data_path, train=True, download=False) if train else None
        val_set = CIFAR100(args.data_path, train=False, download=False)
    except RuntimeError as err:
        raise DataError(f'--data-set CIFAR: {" ".join(str(err).split())} in {args.data_path} (expected the '
                        f'cifar-100-python folder; nothing is downloaded)') from None
    classes = len(val_set.classes)
    num_classes = args.num_classes or classes
    if num_classes < classes:
        raise DataError(f'--num-classes {num_classes} is smaller than the {classes} CIFAR-100 classes')
    return train_set, val_set, num_classes


class ShardSampler(Sampler):
    """Rank r takes samples r, r + world, r + 2 world, ...: every sample once, no padding duplicates, so summed
    counts over ranks equal the dataset size exactly (DistributedSampler pads to equal shards)."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1):
        self.indices = range(rank, num_samples, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def data_config(args, model) -> Dict:
    """Input size, mean/std, interpolation and crop from the recipe, falling back to the model's pretrained_cfg."""
    cfg = getattr(model, 'pretrained_cfg', None) or {}
    size = args.input_size or (cfg.get('input_size') or (3, 224, 224))[-1]
    return dict(
        input_size=(3, size, size),
        mean=tuple(args.mean or cfg.get('mean') or (0.485, 0.456, 0.406)),
        std=tuple(args.std or cfg.get('std') or (0.229, 0.224, 0.225)),
        interpolation=args.interpolation or cfg.get('interpolation') or 'bicubic',
        crop_pct=args.crop_pct or cfg.get('crop_pct') or 0.875,
    )


class _OneOfGraySolarizeBlur:
    """DeiT III 3-Augment's colour step: exactly one of grayscale, solarisation, Gaussian blur (radius 0.1-2)."""

    def __call__(self, img):
        choice = random.randrange(3)
        if choice == 0:
            return ImageOps.grayscale(img).convert('RGB')
        if choice == 1:
            return ImageOps.solarize(img)
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))


def three_augment_transform(args, dcfg: Dict, size: int):
    """3-Augment (Touvron et al., DeiT III), RepNeXt's ``--ThreeAugment``: random resized crop, flip, one of
    grayscale / solarize / blur, colour jitter; no RandAugment and no random erasing."""
    steps = [RandomResizedCropAndInterpolation(size, scale=tuple(args.scale), ratio=tuple(args.ratio),
                                               interpolation='bicubic'),
             transforms.RandomHorizontalFlip(), _OneOfGraySolarizeBlur()]
    if args.color_jitter:
        steps.append(transforms.ColorJitter(args.color_jitter, args.color_jitter, args.color_jitter))
    steps += [transforms.ToTensor(), transforms.Normalize(dcfg['mean'], dcfg['std'])]
    return transforms.Compose(steps)


def _posterize(img, bits_to_keep, **_):
    """timm's posterize op as Pillow < 10 ran it: 0 bits kept is a black image. Pillow 13 raises for 0, which
    RandAugment's ``inc1`` magnitudes reach (level 10 with ``mstd0.5`` noise keeps 4 - 4 = 0 bits), so every
    paper recipe's ``rand-m9-mstd0.5-inc1`` would crash a worker now and then."""
    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return ImageOps.posterize(img, bits_to_keep)


for _name in ('Posterize', 'PosterizeIncreasing', 'PosterizeOriginal'):
    _auto_augment.NAME_TO_OP[_name] = _posterize


def train_transform(args, dcfg: Dict, size: Optional[int] = None):
    if getattr(args, 'three_augment', False):
        return three_augment_transform(args, dcfg, size or dcfg['input_size'][-1])
    return create_transform(
        size or dcfg['input_size'][-1], is_training=True, scale=tuple(args.scale), ratio=tuple(args.ratio),
        hflip=args.hflip, color_jitter=args.color_jitter, auto_augment=args.aa,
        interpolation=args.train_interpolation, mean=dcfg['mean'], std=dcfg['std'], re_prob=args.reprob,
        re_mode=args.remode, re_count=args.recount)


def eval_transform(dcfg: Dict):
    return create_transform(dcfg['input_size'][-1], is_training=False, interpolation=dcfg['interpolation'],
                            mean=dcfg['mean'], std=dcfg['std'], crop_pct=dcfg['crop_pct'])


def train_size_at(args, epoch: int, default: int) -> int:
    """Train resolution for ``epoch`` from ``train_size_schedule`` (epoch/size pairs), else ``default``."""
    size = default
    pairs = args.train_size_schedule or []
    for start, value in sorted(zip(pairs[0::2], pairs[1::2])):
        if epoch >= start:
            size = value
    return size


def _seed_worker(worker_id: int) -> None:
    # torch seeds python/numpy/torch in each worker from the loader's base seed; keep one thread per worker
    torch.set_num_threads(1)


def train_loader(dataset: Dataset, args, env) -> DataLoader:
    if args.repeated_aug:
        sampler = RepeatAugSampler(dataset, num_replicas=env.world_size, rank=env.rank,
                                   num_repeats=args.repeated_aug_repeats)
    else:
        sampler = DistributedSampler(dataset, num_replicas=env.world_size, rank=env.rank, shuffle=True,
                                     seed=args.seed, drop_last=False)
    if len(sampler) < args.batch_size:
        raise DataError(f'{len(sampler)} training samples per rank cannot fill one batch of {args.batch_size} '
                        f'(add images or lower --batch-size)')
    return DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                      pin_memory=args.pin_mem and env.device.type == 'cuda', drop_last=True,
                      worker_init_fn=_seed_worker, persistent_workers=False)


def eval_loader(dataset: Dataset, args, env) -> DataLoader:
    batch = args.eval_batch_size or 2 * args.batch_size
    return DataLoader(dataset, batch_size=batch, sampler=ShardSampler(len(dataset), env.rank, env.world_size),
                      num_workers=args.workers, pin_memory=args.pin_mem and env.device.type == 'cuda',
                      drop_last=False, worker_init_fn=_seed_worker)


def mixup_fn(args, num_classes: int) -> Optional[Mixup]:
    if not (args.mixup > 0 or args.cutmix > 0 or args.cutmix_minmax is not None):
        return None
    return Mixup(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, cutmix_minmax=args.cutmix_minmax,
                 prob=args.mixup_prob, switch_prob=args.mixup_switch_prob, mode=args.mixup_mode,
                 label_smoothing=args.smoothing, num_classes=num_classes)


def updates_per_epoch(loader: DataLoader, accum_steps: int) -> int:
    return math.ceil(len(loader) / accum_steps)
