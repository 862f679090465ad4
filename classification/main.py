"""Train or evaluate an image classifier: any backbone registered by ``models/`` or timm.

    torchrun --nproc_per_node=8 classification/main.py --config configs/classification/repnext/m1.yaml \\
        --data-path /data/imagenet
    python classification/main.py --model repnext_m1 --data-path /data/imagenet --eval --resume auto

Launchers: torchrun, SLURM (``submit.py`` or ``srun``), mpirun (see ``distributed.py``), or a plain process.
Errors a user can fix (data, recipe, checkpoint, diverged loss) print one line and exit with status 1.
"""
import copy
import json
import os
import random
import sys
import time
from typing import Any, Dict, List, Optional

if __package__ in (None, ''):  # run as a script (torchrun classification/main.py): make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from timm.layers import convert_sync_batchnorm
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3, distribute_bn, reparameterize_model

from classification import families  # noqa: F401  (registers models/ with timm; before models._checkpoint)
from models._checkpoint import CheckpointError
from classification import checkpoint as ckpt
from classification import data, modeling
from classification.config import parse_args, to_plain_dict
from classification.distributed import DistEnv, all_gather_object, barrier, cleanup, init_distributed
from classification.engine import StepOptions, evaluate, train_one_epoch
from classification.errors import ConfigError, DataError, NaNLossError, UserError, one_line
from classification.logs import RunLog
from classification.losses import DistillationLoss, base_criterion


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def say(env: DistEnv, *parts) -> None:
    if env.is_main:
        print(*parts, flush=True)


def build_datasets(args, train: bool):
    """(train set or None, val set, num_classes); transforms are attached once the model's data config is known."""
    if args.data_set != 'IMNET':
        return data.other_datasets(args, train)
    val_dir = data.split_dir(args.data_path, 'val')
    train_set = data.ImageFolderDataset(data.split_dir(args.data_path, 'train')) if train else None
    class_names = train_set.classes if train_set else None
    if not train and args.num_classes == 1000:
        # an ImageNet-1k classifier on a subset of ImageNet's class folders: label by the 1k index of each synset
        class_names = data.imagenet_class_names(val_dir)
    val_set = data.ImageFolderDataset(val_dir, class_names=class_names)
    classes = len(train_set.classes if train_set else val_set.classes)
    num_classes = args.num_classes or classes
    if num_classes < classes:
        raise DataError(f'--num-classes {num_classes} is smaller than the {classes} class folders in {args.data_path}')
    return train_set, val_set, num_classes


def format_eval(name: str, stats: Dict[str, float]) -> str:
    return (f'{name}: top-1 {stats["acc1"]:.2f}  top-5 {stats["acc5"]:.2f}  loss {stats["loss"]:.4f}  '
            f'({stats["count"]} images)')


def resolve_resume(args, env: DistEnv):
    """(path, state) of the checkpoint to resume from, (None, None) for a fresh start."""
    if not args.resume:
        return None, None
    if args.resume == 'auto':
        path, state, warnings = ckpt.find_resume(args.output_dir)
        for line in warnings:
            say(env, f'warning: {line}')
        if path is None:
            say(env, f'resume auto: no checkpoint in {args.output_dir}, starting from scratch')
        return path, state
    return args.resume, ckpt.read_training_state(args.resume)


def apply_world_size(args, env: DistEnv) -> None:
    """FasterNet's -b / -e give the batch over all processes; ours are per process."""
    for flag, global_key, key in (('-b', 'global_batch_size', 'batch_size'),
                                  ('-e', 'global_eval_batch_size', 'eval_batch_size')):
        total = getattr(args, global_key)
        if total:
            setattr(args, key, max(1, total // env.world_size))
            say(env, f'note: {flag} {total} over {env.world_size} process(es): --{key.replace("_", "-")} '
                     f'{getattr(args, key)}')


def released_as_pretrained(args, env: DistEnv) -> None:
    """``--eval --resume FILE`` with the authors' file (the originals' test command): loaded as released weights,
    with the class count of the file's classifier unless --num-classes says otherwise."""
    args.pretrained_file, args.resume = args.resume, None
    if args.num_classes is None:
        args.num_classes = modeling.file_num_classes(args.model, args.pretrained_file)
    say(env, f'note: --resume {args.pretrained_file} is not a training checkpoint of this project: evaluated as '
             f'released weights (--pretrained-file)' + (f', {args.num_classes} classes' if args.num_classes else ''))


# ------------------------------------------------------------------------------------------------------ eval only
def evaluate_only(args, env: DistEnv, model, val_set, num_classes: int) -> Dict[str, Dict[str, float]]:
    loader = data.eval_loader(val_set, args, env)
    amp_dtype = getattr(torch, args.amp_dtype) if args.amp else None

    def run_eval(net, name):
        if args.deploy:  # the form the authors evaluate (RepNeXt's replace_batchnorm, FasterNet's fuse_conv_bn)
            net = reparameterize_model(net.eval())
        net.to(env.device)
        if args.channels_last:
            net.to(memory_format=torch.channels_last)
        return evaluate(net, loader, env.device, amp_dtype, args.channels_last, env.is_main and args.progress, name)

    sets: Dict[str, Any] = {}
    if args.resume:
        path, state = resolve_resume(args, env)
        if state is None:
            raise ConfigError(f'--eval --resume auto: no checkpoint in {args.output_dir}')
        ckpt.check_compatible(state, path, args.model, num_classes)
        model.load_state_dict(state['model'])
        sets['model'] = model
        if state.get('model_ema'):
            ema = copy.deepcopy(model)
            ema.load_state_dict(state['model_ema'])
            sets['model_ema'] = ema
        source = f'{path} (epoch {state["epoch"]})'
    elif args.pretrained_file:
        weights = modeling.raw_and_ema(args.pretrained_file)
        if 'ema' in weights:  # timm's path loaded the EMA half; build the raw half from memory
            sets['ema'] = model
            sets['raw'] = modeling.create_with_state_dict(args, num_classes, weights['raw'])
        else:
            sets['weights'] = model
        source = args.pretrained_file
    elif args.finetune or args.pretrained:
        sets['weights'] = model
        source = args.finetune or 'timm pretrained weights'
    else:
        raise ConfigError('--eval needs weights: --resume CKPT|auto, --pretrained-file FILE or --finetune FILE')
    results = {}
    for name, net in sets.items():
        results[name] = run_eval(net, name)
        say(env, f'[eval] {args.model} {format_eval(name, results[name])}')
    if env.is_main:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, 'eval.json'), 'w') as f:
            json.dump(dict(model=args.model, weights=source, data=args.data_path, results=results), f, indent=1)
        print(f'[eval] weights: {source}; results in {os.path.join(args.output_dir, "eval.json")}')
    return results


# -------------------------------------------------------------------------------------------------------- training
def train(args, env: DistEnv, model, train_set, val_set, num_classes: int, dcfg: Dict) -> Dict[str, Any]:
    device = env.device
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    if args.sync_bn:
        if env.distributed and device.type == 'cuda':
            model = convert_sync_batchnorm(model)
        else:
            say(env, 'note: --sync-bn ignored (needs more than one GPU process)')
    model_ema = ModelEmaV3(model, decay=args.model_ema_decay, use_warmup=args.model_ema_warmup) \
        if args.model_ema else None
    distilled = args.distillation_type != 'none' and modeling.set_distilled_training(model, True)
    teacher = modeling.build_teacher(args, num_classes, device)
    train_model = model
    if env.distributed:
        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == 'cuda' else None,
            find_unused_parameters=args.find_unused_parameters)
    if args.compile:
        train_model = torch.compile(train_model, mode=None if args.compile == 'default' else args.compile)

    global_batch = args.batch_size * env.world_size * args.grad_accum_steps
    lr = args.lr if args.lr is not None else args.lr_base * global_batch / args.lr_base_size
    opt_kwargs = {k: v for k, v in (('eps', args.opt_eps), ('betas', args.opt_betas)) if v is not None}
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum, filter_bias_and_bn=args.filter_bias_and_bn, **opt_kwargs)
    default_size = dcfg['input_size'][-1]
    size = data.train_size_at(args, 0, default_size)
    train_set.transform = data.train_transform(args, dcfg, size)
    loader = data.train_loader(train_set, args, env)
    val_loader = data.eval_loader(val_set, args, env)
    scheduler, total_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, min_lr=args.min_lr, warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs, cooldown_epochs=args.cooldown_epochs,
        patience_epochs=args.patience_epochs, noise=args.lr_noise, noise_pct=args.lr_noise_pct,
        noise_std=args.lr_noise_std, noise_seed=args.seed,
        step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=data.updates_per_epoch(loader, args.grad_accum_steps))
    amp_dtype = getattr(torch, args.amp_dtype) if args.amp else None
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    mixup = data.mixup_fn(args, num_classes)
    criterion = DistillationLoss(base_criterion(args, mixup is not None), teacher, args.distillation_type,
                                 args.distillation_alpha, args.distillation_tau)

    start_epoch, num_updates, best, history = 0, 0, dict(acc1=-1.0, epoch=-1), []
    path, state = resolve_resume(args, env)
    if state is not None:
        ckpt.check_compatible(state, path, args.model, num_classes)
        model.load_state_dict(state['model'])
        saved_opt = state['args'].get('opt')
        if saved_opt != args.opt:
            raise CheckpointError(f'{path} holds {saved_opt} optimizer state; this run uses --opt {args.opt}')
        try:
            optimizer.load_state_dict(state['optimizer'])
        except (KeyError, ValueError) as err:
            raise CheckpointError(f'optimizer state in {path} does not fit this run: {one_line(err)}') from None
        scheduler.load_state_dict(state['scheduler'])
        if scaler is not None and state.get('scaler'):
            scaler.load_state_dict(state['scaler'])
        if model_ema is not None and state.get('model_ema'):
            model_ema.module.load_state_dict(state['model_ema'])
        start_epoch, num_updates = state['epoch'], state['num_updates']
        best, history = dict(state['best']), list(state['history'])
        if len(state['rng']) != env.world_size:
            say(env, f'note: checkpoint written by {len(state["rng"])} ranks, resuming on {env.world_size}; '
                     f'random streams will differ from an uninterrupted run')
        say(env, f'resumed from {path} at epoch {start_epoch}')

    say(env, f'[train] {args.model}: {modeling.count_parameters(model) / 1e6:.2f}M params, {num_classes} classes, '
             f'{len(train_set)} train / {len(val_set)} val images, {env.world_size} process(es) ({env.launcher}), '
             f'global batch {global_batch}, lr {lr:.3g}, {total_epochs} epochs'
             + (', distillation head trained against the teacher' if distilled else ''))
    log = RunLog(args.output_dir, env.is_main, history, args.tensorboard)
    options = StepOptions(device=device, accum_steps=args.grad_accum_steps, amp_dtype=amp_dtype, scaler=scaler,
                          clip_grad=args.clip_grad, clip_mode=args.clip_mode, channels_last=args.channels_last,
                          mixup_fn=mixup, model_ema=model_ema,
                          lr_scheduler=scheduler if args.sched_on_updates else None,
                          progress=env.is_main and args.progress, log_interval=args.log_interval,
                          bn_eval=args.bn_eval)
    last_path = os.path.join(args.output_dir, ckpt.LAST)
    if state is not None:  # last thing before the loop: nothing may draw random numbers in between
        ckpt.restore_rng(state['rng'][env.rank % len(state['rng'])])
    try:
        for epoch in range(start_epoch, total_epochs):
            epoch_start = time.time()
            if data.train_size_at(args, epoch, default_size) != size:
                size = data.train_size_at(args, epoch, default_size)
                train_set.transform = data.train_transform(args, dcfg, size)
                loader = data.train_loader(train_set, args, env)
                say(env, f'train resolution {size} from epoch {epoch}')
            loader.sampler.set_epoch(epoch)
            try:
                stats = train_one_epoch(train_model, criterion, loader, optimizer, epoch, num_updates, options)
            except NaNLossError as err:
                kept = last_path if os.path.exists(last_path) else 'none was written yet'
                raise NaNLossError(f'{err}; training stopped, last good checkpoint: {kept}') from None
            num_updates = stats['num_updates']
            if env.distributed and args.dist_bn:
                # DDP leaves each rank's BN running stats updated by its own last batch; make them one set, so
                # the per-epoch evaluation measures exactly the weights the checkpoint stores
                distribute_bn(model, env.world_size, reduce=args.dist_bn == 'reduce')
                if model_ema is not None:
                    distribute_bn(model_ema.module, env.world_size, reduce=args.dist_bn == 'reduce')
            scheduler.step(epoch + 1)
            record = dict(epoch=epoch, train_loss=stats['loss'], lr=stats['lr'], train_images_per_s=stats['images_per_s'])
            if (epoch + 1) % args.eval_interval == 0 or epoch + 1 == total_epochs:
                progress = env.is_main and args.progress
                val = evaluate(model, val_loader, device, amp_dtype, args.channels_last, progress)
                record.update(val_acc1=val['acc1'], val_acc5=val['acc5'], val_loss=val['loss'])
                if model_ema is not None and args.model_ema_eval:
                    ema = evaluate(model_ema.module, val_loader, device, amp_dtype, args.channels_last, progress)
                    record.update(ema_acc1=ema['acc1'], ema_acc5=ema['acc5'], ema_loss=ema['loss'])
            is_best = record.get('val_acc1', -1.0) > best['acc1']
            if is_best:
                best = dict(acc1=record['val_acc1'], epoch=epoch)
            record['epoch_time_s'] = time.time() - epoch_start
            history.append(record)
            rng_states = all_gather_object(ckpt.capture_rng())
            if env.is_main:
                payload = dict(
                    format=ckpt.FORMAT, version=ckpt.VERSION, model_name=args.model, num_classes=num_classes,
                    epoch=epoch + 1, num_updates=num_updates, best=best, history=history,
                    model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    args=to_plain_dict(args), rng=rng_states, world_size=env.world_size)
                if model_ema is not None:
                    payload['model_ema'] = model_ema.module.state_dict()
                if scaler is not None:
                    payload['scaler'] = scaler.state_dict()
                ckpt.save_training_state(args.output_dir, payload, is_best)
            barrier()
            log.append(record)
            say(env, f'[epoch {epoch}] ' + '  '.join(
                f'{k} {v:.4g}' for k, v in record.items() if k != 'epoch' and isinstance(v, float)))
    finally:
        log.close()
    say(env, f'[train] done: best top-1 {best["acc1"]:.2f} at epoch {best["epoch"]}; checkpoints '
             f'{args.output_dir}/checkpoint-{{last,best}}.pth, metrics {log.path}, TensorBoard {log.tb_dir}')
    return dict(best=best, history=history, output_dir=args.output_dir)


# ------------------------------------------------------------------------------------------------------------ main
def run(args) -> Dict[str, Any]:
    env = init_distributed(args.device, args.dist_backend)
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        args.output_dir = args.output_dir or os.path.join('output', 'classification', args.model)
        apply_world_size(args, env)
        if args.eval and args.resume and args.resume != 'auto' and not ckpt.is_training_checkpoint(args.resume):
            released_as_pretrained(args, env)
        if args.deploy and not args.eval:
            say(env, 'note: --deploy: checkpoints keep the training form; the deploy form is evaluated with --eval '
                     '--deploy (or built by timm.utils.reparameterize_model)')
        seed_everything(args.seed + env.rank)
        train_set, val_set, num_classes = build_datasets(args, train=not args.eval)
        model = modeling.create_model(args, num_classes, keep_classifier=args.eval)
        if args.finetune:
            reinit = modeling.finetune_from(model, args.finetune, use_ema=args.finetune_ema)
            say(env, f'fine-tune: loaded {args.finetune}' + (f'; new classifier tensors: {", ".join(reinit)}'
                                                             if reinit else ''))
        dcfg = data.data_config(args, model)
        val_set.transform = data.eval_transform(dcfg)
        if env.is_main:
            os.makedirs(args.output_dir, exist_ok=True)
            with open(os.path.join(args.output_dir, 'config.yaml'), 'w') as f:
                yaml.safe_dump(dict(to_plain_dict(args), data_config={k: list(v) if isinstance(v, tuple) else v
                                                                     for k, v in dcfg.items()}), f)
        barrier()
        if args.eval:
            return dict(eval=evaluate_only(args, env, model, val_set, num_classes))
        return train(args, env, model, train_set, val_set, num_classes, dcfg)
    finally:
        torch.set_num_threads(threads)  # callers that import run() (tests, submitit's debug cluster) get theirs back
        cleanup()


def main(argv: Optional[List[str]] = None) -> int:
    try:
        run(parse_args(argv))
    except (UserError, CheckpointError) as err:
        rank = os.environ.get('RANK') or os.environ.get('OMPI_COMM_WORLD_RANK') or os.environ.get('SLURM_PROCID')
        prefix = f'[rank {rank}] ' if rank not in (None, '0') else ''
        print(f'{prefix}error: {one_line(err)}', file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
