"""docs/migrating.md: every row of the migration table runs, on the synthetic data at tiny sizes.

Each row's command is read from the table itself (the README's command for rows marked ``same``, the translation
otherwise) and run as a shell line would run it: ``cd``, ``VAR=value`` prefixes, ``bash ./script.sh``,
``python -m torch.distributed.launch [--use_env] SCRIPT``, ``python SCRIPT``, or a Python snippet. Per row only the
placeholders change (dataset, weight files, output folders, the paper config -> the synthetic config of the same
detector) and size flags are appended. Most rows run in this process (the launcher emulated exactly: rank
variables in the environment and, without ``--use_env``, ``--local-rank=0`` appended); five go through the real
launchers in a subprocess (torch.distributed.launch with and without ``--use_env``, torch.distributed.run behind
dist_train.sh / dist_test.sh / distributed_train.sh). The paper config names of the table are checked to resolve
to the right configs separately.
"""
import contextlib
import glob
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import uuid

import pytest
import torch
import yaml

from dense_helpers import synthetic_dataset
from official_layout import (read_key_list, read_reference, reference_input, save_official_checkpoint,
                             synthetic_state_dict)

pytestmark = pytest.mark.usefixtures('single_thread')  # one intra-op thread: 2 shared cores

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, 'docs', 'migrating.md')
DET_CONFIG = os.path.join(REPO, 'configs', 'detection', 'synthetic', 'mask-rcnn_fasternet-t0_fpn_synthetic.py')
SEG_CONFIG = os.path.join(REPO, 'configs', 'segmentation', 'synthetic', 'fpn_fasternet-t0_synthetic.py')
PY = sys.executable
CLS_TINY = ['--input-size', '32', '--epochs', '1', '--warmup-epochs', '0', '--cooldown-epochs', '0',
            '--batch-size', '8', '--workers', '0', '--no-progress', '--no-tensorboard', '--threads', '1',
            '--distillation-type', 'none', '--no-amp']
CLS_EVAL_TINY = ['--input-size', '32', '--workers', '0', '--no-progress', '--threads', '1']


# --------------------------------------------------------------------------------------------------- the table
def read_table():
    rows = {}
    for line in open(DOC):
        match = re.match(r'\| ([RFMXN]\d+) \|', line)
        if not match:
            continue
        cells = [c.strip() for c in line.strip().strip('|').split(' | ')]
        row_id, readme, original, here, status, differs = cells
        commands = re.findall(r'`([^`]+)`', original)
        where = re.search(r'\(([\w/]+/|root)\)\s*$', original)
        rows[row_id] = dict(readme=readme, original=commands[0], here=here, status=status, differs=differs,
                            cwd=None if not where or where.group(1) == 'root' else where.group(1))
    return rows


ROWS = read_table()


def command_of(row_id):
    """(command, working directory) of a row: the README's own command or the translation."""
    row = ROWS[row_id]
    here = re.findall(r'`([^`]+)`', row['here'])
    cwd = row['cwd']
    if row['here'].startswith('same, from '):
        cwd = row['here'][len('same, from '):]
    elif here:
        return here[0], cwd
    return row['original'], cwd


def test_table_counts_match_the_rows():
    statuses = [r['status'] for r in ROWS.values()]
    counts = {s: statuses.count(s) for s in ('unchanged', 'translated', 'cannot')}
    assert sum(counts.values()) == len(ROWS) == 27
    text = open(DOC).read()
    assert (f'{len(ROWS)} rows — {counts["unchanged"]} run unchanged, {counts["translated"]} with a translation, '
            f'{counts["cannot"]} cannot run as written') in text
    # every README of the five has rows, every README command line is in the table
    assert {r['readme'] for r in ROWS.values()} == {'RapidNet', 'FasterNet', 'MPViT', 'ReXNet', 'RepNeXt'}
    for row in ROWS.values():
        if row['status'] == 'cannot':
            assert row['here'] == '`make setup`'
    assert re.search(r'^setup:', open(os.path.join(REPO, 'Makefile')).read(), re.M)


def test_config_names_of_the_table_resolve():
    from dense.runner import resolve_config
    expected = {
        'configs/mask_rcnn_rapidnet_m_fpn_1x_coco.py': 'configs/detection/rapidnet/mask-rcnn_rapidnet-m_fpn_1x_coco.py',
        'configs/sem_fpn/fpn_rapidnet_m_ade20k_40k.py':
            'configs/segmentation/rapidnet/fpn_rapidnet-m_8xb4-40k_ade20k-512x512.py',
        'configs/fasternet/mask_rcnn_fasternet_s_fpn_1x_coco.py':
            'configs/detection/fasternet/mask-rcnn_fasternet-s_fpn_1x_coco.py',
        'configs/retinanet/retinanet_mpvit_small_ms_3x.yaml':
            'configs/detection/mpvit/retinanet_mpvit-small_fpn_ms-3x_coco.py',
        'configs/maskrcnn/mask_rcnn_mpvit_small_ms_3x.yaml':
            'configs/detection/mpvit/mask-rcnn_mpvit-small_fpn_ms-3x_coco.py',
        'configs/retinanet/retinanet_mpvit_xs_1x.yaml': 'configs/detection/mpvit/retinanet_mpvit-xsmall_fpn_1x_coco.py',
    }
    named = set(re.findall(r'(configs/[\w/]+\.(?:py|yaml))', ' '.join(r['original'] for r in ROWS.values())))
    assert named <= set(expected)
    for name, ours in expected.items():
        task = 'segmentation' if 'sem_fpn' in name else 'detection'
        assert os.path.relpath(resolve_config(name, task), REPO) == ours
    with pytest.raises(SystemExit, match='could be any of'):
        resolve_config('configs/maskrcnn/mask_rcnn_mpvit_small.yaml', 'detection')  # no schedule: ambiguous


# ------------------------------------------------------------------------------------------------- running rows
def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def substitute(command, subs):
    for old, new in subs.items():
        assert old in command, f'{old!r} not in {command!r}'
        command = command.replace(old, str(new))
    return command


def split_line(command):
    """(cwd, env, argv) of one shell line: ``cd DIR &&`` and ``VAR=value`` prefixes, ``> file`` dropped."""
    cwd = None
    match = re.match(r'cd (\S+) && (.*)', command)
    if match:
        cwd, command = match.groups()
    argv = shlex.split(command)
    if '>' in argv:
        argv = argv[:argv.index('>')]
    env = {}
    while argv and re.match(r'^[A-Z_]+=', argv[0]):
        key, value = argv.pop(0).split('=', 1)
        env[key] = value
    return cwd, env, argv


def entry_point(script, cwd):
    """The callable behind a script path, as the shell would find it from ``cwd``."""
    path = os.path.normpath(os.path.join(REPO, cwd or '', script))
    rel = os.path.relpath(path, REPO)
    from dense import runner as dense_runner
    if rel in ('main.py', 'train_test.py', 'classification/main.py'):
        from classification import main as cls_main
        return cls_main.main
    dense = {'detection/main.py': ('detection', 'train'), 'detection/train.py': ('detection', 'train'),
             'detection/test.py': ('detection', 'test'), 'segmentation/tools/train.py': ('segmentation', 'train'),
             'segmentation/tools/test.py': ('segmentation', 'test')}
    if rel in dense:
        return lambda argv: dense_runner.main(*dense[rel], argv)
    modules = {'detection/get_flops.py': 'detection.get_flops', 'detection/benchmark.py': 'detection.benchmark',
               'detection/train_net.py': 'detection.train_net', 'tools/export.py': 'tools.export',
               'tools/benchmark.py': 'tools.benchmark'}
    import importlib
    return importlib.import_module(modules[rel]).main


@contextlib.contextmanager
def environment(values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_in_process(command, extra=(), capsys=None):
    """Run one command line in this process; returns (status, stdout + stderr)."""
    cwd, env, argv = split_line(command)
    assert argv[0] == 'python', argv
    argv = argv[1:]
    launch_env = {}
    if argv[:2] == ['-m', 'torch.distributed.launch']:
        argv = argv[2:]
        use_env = False
        while argv[0].startswith('--'):  # the launcher's own options
            flag = argv.pop(0)
            if flag in ('--use_env', '--use-env'):
                use_env = True
            elif '=' not in flag:
                argv.pop(0)  # its value: --nproc_per_node 2
        # one process, exactly as the launcher starts each of its children
        launch_env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1', GROUP_RANK='0',
                          MASTER_ADDR='127.0.0.1', MASTER_PORT=free_port())
        script, args = argv[0], argv[1:] + ([] if use_env else ['--local-rank=0'])
    else:
        script, args = argv[0], argv[1:]
    main = entry_point(script, cwd)
    if capsys is not None:
        capsys.readouterr()
    threads = torch.get_num_threads()
    here = os.getcwd()
    try:
        os.chdir(os.path.join(REPO, cwd or ''))
        with environment({**env, **launch_env}):
            try:
                status = main(list(args) + list(extra))
            except SystemExit as err:
                status = err.code
            finally:
                import torch.distributed as dist
                if dist.is_available() and dist.is_initialized():
                    dist.destroy_process_group()
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    out = ''
    if capsys is not None:
        captured = capsys.readouterr()
        out = captured.out + captured.err
    if status is None or isinstance(status, dict):  # tools/benchmark.py's main returns its records
        status = 0
    return (status if isinstance(status, int) else 1), out


def run_subprocess(command, extra=(), env=None, timeout=240):
    """The line through bash, with ``python`` being this interpreter (as an activated venv would make it)."""
    cwd, line_env, _ = split_line(command)
    line = re.sub(r'^cd \S+ && ', '', command)
    line = re.sub(r'(^|\s)python(\s)', rf'\1{PY}\2', line)
    line = line.split(' > ')[0] + (' ' + ' '.join(shlex.quote(str(e)) for e in extra) if extra else '')
    full_env = dict(os.environ, PYTHON=PY, OMP_NUM_THREADS='1', PORT=free_port(), **(env or {}))
    proc = subprocess.run(['bash', '-c', line], cwd=os.path.join(REPO, cwd or ''), env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def row(row_id, subs=None):
    command, cwd = command_of(row_id)
    command = substitute(command, subs or {})
    return f'cd {cwd} && {command}' if cwd else command


def unique(prefix):
    return f'experiment_name={prefix}_{uuid.uuid4().hex[:8]}'


def dense_tiny(name, iters=2):
    return ['--cfg-options', f'train_cfg.max_iters={iters}', 'train_cfg.val_begin=100',
            f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1', unique(name)]


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return tmp_path_factory.mktemp('migration')


@pytest.fixture(scope='module')
def data(root):
    """Synthetic ImageNet (8 classes, 32 px), COCO and ADE20K sets; $SYNTHETIC_DATA points the configs at them."""
    from tools.make_synthetic import generate
    generate(out=str(root / 'syn'), tasks=('cls',), cls_size=32, train_per_class=2, val_per_class=1, quiet=True)
    with synthetic_dataset(str(root / 'syn'), 'det', det_train=4, det_val=2), \
            synthetic_dataset(str(root / 'syn'), 'seg', seg_train=4, seg_val=2):
        yield root / 'syn'


@pytest.fixture(scope='module')
def official(root):
    """The authors' files, synthetic weights in their recorded layouts and wrappers."""
    def make(key_list, wrapper=None, name=None):
        path = root / (name or f'{key_list}.pth')
        if not path.exists():
            save_official_checkpoint(str(path), synthetic_state_dict(read_key_list(key_list), seed=0), wrapper)
        return path
    return make


@pytest.fixture(scope='module')
def det_ckpt(data, root):
    """Two iterations of the synthetic Mask R-CNN: a detector checkpoint to test with."""
    from dense import runner as dense_runner
    work = root / 'det_ckpt'
    dense_runner.run_train('detection', [DET_CONFIG, '--work-dir', str(work), *dense_tiny('ckpt')])
    return work / 'iter_2.pth'


# ------------------------------------------------------------------------------------------- classification rows
def test_R4_rapidnet_train_with_launch_use_env(data, root, capsys):
    out_dir = root / 'R4'
    status, out = run_in_process(row('R4', {'Datasets/ILSVRC/Data/CLS-LOC/': data / 'imagenet',
                                            'RapidNet_Results': out_dir}), CLS_TINY, capsys)
    assert status == 0, out
    assert 'unrecognized' not in out and 'rapidnet/m.yaml' in out  # the paper recipe, said in one line
    saved = yaml.safe_load(open(out_dir / 'config.yaml'))
    assert saved['config'].endswith('configs/classification/rapidnet/m.yaml') and saved['model_ema'] is True
    assert (out_dir / 'checkpoint-last.pth').exists()


def test_R5_rapidnet_eval_of_a_released_file(data, root, official, capsys):
    release = official('rapidnet_m', ('state_dict', 'state_dict_ema'))
    out_dir = root / 'R5'
    status, out = run_in_process(row('R5', {'Datasets/ILSVRC/Data/CLS-LOC/': data / 'imagenet',
                                            'pretrained_model': release}),
                                 CLS_EVAL_TINY + ['--output-dir', str(out_dir)], capsys)
    assert status == 0, out
    assert 'not a training checkpoint of this project: evaluated as released weights' in out and '1000 classes' in out
    results = json.load(open(out_dir / 'eval.json'))['results']
    assert set(results) == {'raw', 'ema'} and results['raw']['count'] == 8


def test_N5_repnext_train_real_launch_two_ranks(data, root):
    """torch.distributed.launch --use_env, two gloo ranks: the README's training line as written."""
    out_dir = root / 'N5'
    status, out = run_subprocess(row('N5', {'--nproc_per_node=8': '--nproc_per_node=2', '12346': free_port(),
                                            '~/imagenet': data / 'imagenet'}),
                                 CLS_TINY + ['--output-dir', out_dir, '--batch-size', '4', '--device', 'cpu'])
    assert status == 0, out[-3000:]
    assert out.count('note: --dist-eval') == 1  # one line per job, not per rank
    assert '2 process(es)' in out and (out_dir / 'checkpoint-last.pth').exists()


def test_N6_repnext_eval_with_and_without_deploy(data, root, official, capsys):
    release = official('repnext_m1', 'model')
    results = {}
    for deploy in (False, True):
        out_dir = root / f'N6_{deploy}'
        status, out = run_in_process(row('N6', {'pretrain/repnext_m1_distill_300e.pth': release,
                                                '~/imagenet': data / 'imagenet'}),
                                     CLS_EVAL_TINY + ['--output-dir', str(out_dir)] + (['--deploy'] if deploy else []),
                                     capsys)
        assert status == 0, out
        results[deploy] = json.load(open(out_dir / 'eval.json'))['results']['weights']
    assert results[True]['count'] == results[False]['count'] == 8
    assert results[True]['loss'] == pytest.approx(results[False]['loss'], rel=1e-4)  # folding keeps the function


def test_launch_without_use_env_passes_local_rank(data, root, official, capsys):
    """The launcher without --use_env appends --local-rank=N (older torch: --local_rank N); both are accepted."""
    release = official('repnext_m1', 'model')
    for spelling in (['--local-rank=0'], ['--local_rank', '0']):
        command = f'python main.py --eval --model repnext_m1 --resume {release} --data-path {data / "imagenet"}'
        status, out = run_in_process(command, CLS_EVAL_TINY + ['--output-dir', str(root / 'lr')] + spelling, capsys)
        assert status == 0, out


def test_X3_rexnet_distributed_train_sh(data, root):
    out_dir = root / 'X3'
    status, out = run_subprocess(row('X3', {' 4 /imagenet/': f' 1 {data / "imagenet"}', '--batch-size 128': '',
                                            '--epochs 400': ''}),
                                 CLS_TINY + ['--output-dir', out_dir])
    assert status == 0, out[-3000:]
    assert '--model rexnetv1 --rex-width-mult 1: --model rexnet_100' in out
    saved = yaml.safe_load(open(out_dir / 'config.yaml'))
    assert saved['model'] == 'rexnet_100' and saved['opt'] == 'sgd' and saved['lr'] == 0.5
    assert saved['config'].endswith('rexnet/100.yaml') and saved['data_path'] == str(data / 'imagenet')


def test_fasternet_train_test_flags(data, root, official, capsys):
    """FasterNet's train_test.py evaluation line (its classification README), through the root shim."""
    release = official('fasternet_t0_official', None)
    command = (f'python train_test.py -c cfg/fasternet_t0.yaml --checkpoint_path {release} '
               f'--data_dir {data / "imagenet"} --test_phase -g 1 -e 125')
    # --no-amp: the recipe's fp16 autocast is for GPUs
    status, out = run_in_process(command, ['--input-size', '32', '-n', '0', '--no-progress', '--threads', '1',
                                           '--output-dir', str(root / 'ft'), '--fuse_conv_bn', '--no-amp'], capsys)
    assert status == 0, out
    assert 'FasterNet cfg file, read as' in out and '-e 125 over 1 process(es): --eval-batch-size 125' in out
    assert '-g: one device per process here' in out


# ---------------------------------------------------------------------------------------------- detection rows
def test_R6_rapidnet_detection_train(data, root, capsys):
    work = root / 'R6'
    status, out = run_in_process(row('R6', {'configs/mask_rcnn_rapidnet_m_fpn_1x_coco.py': DET_CONFIG,
                                            'detection_results/': work}), dense_tiny('R6'), capsys)
    assert status == 0, out[-2000:]
    assert 'model.backbone.model_name=rapidnet_m model.neck.in_channels=[32, 64, 160, 320]' in out
    state = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    assert state['neck.lateral_convs.0.conv.weight'].shape[1] == 32  # the neck follows RapidNet-M's channels


def test_R7_rapidnet_detection_test_real_launch(data, root, det_ckpt):
    """torch.distributed.launch without --use_env: detection/test.py receives --local-rank=0."""
    status, out = run_subprocess(row('R7', {'--nproc_per_node=4': '--nproc_per_node=1',
                                            '--node_rank 0': f'--node_rank 0 --master_port {free_port()}',
                                            'configs/mask_rcnn_rapidnet_m_fpn_1x_coco.py': DET_CONFIG,
                                            'Pretrained_Model.pth': det_ckpt, 'detection_results/': root / 'R7'}),
                                 ['--cfg-options', unique('R7')])
    assert status == 0, out[-3000:]
    assert 'coco/bbox_mAP' in out and 'coco/segm_mAP' not in out  # --eval bbox selects the metric


def test_F2_fasternet_dist_test_sh(data, root, det_ckpt):
    status, out = run_subprocess(row('F2', {'configs/fasternet/mask_rcnn_fasternet_s_fpn_1x_coco.py': DET_CONFIG,
                                            'ckpts/mask_rcnn_fasternet_s_fpn_1x_coco_20221111_063419.pth': det_ckpt,
                                            ' 8 --eval': ' 1 --eval'}),
                                 ['--work-dir', root / 'F2', '--cfg-options', unique('F2')])
    assert status == 0, out[-3000:]
    assert 'coco/bbox_mAP' in out and 'coco/segm_mAP' in out


def test_F3_fasternet_get_flops(data, capsys):
    status, out = run_in_process(row('F3', {'configs/fasternet/mask_rcnn_fasternet_s_fpn_1x_coco.py': DET_CONFIG}),
                                 capsys=capsys)
    assert status == 0, out
    assert 'Input shape: (3, 128, 128)' in out  # the synthetic config's test size
    params = float(re.search(r'Params: ([\d.]+) M', out).group(1))
    flops, macs = (float(v) for v in re.search(r'FLOPs: ([\d.]+) G \(GMACs ([\d.]+)', out).groups())
    assert 3.0 < params < 4.0 and flops == pytest.approx(2 * macs, abs=0.01) and flops > 0.1


def test_F4_fasternet_benchmark_fuse_conv_bn(data, det_ckpt, capsys):
    status, out = run_in_process(row('F4', {'configs/fasternet/mask_rcnn_fasternet_s_fpn_1x_coco.py': DET_CONFIG,
                                            'ckpts/mask_rcnn_fasternet_s_fpn_1x_coco_20221111_063419.pth': det_ckpt}),
                                 ['--max-iter', '3', '--num-warmup', '1', '--log-interval', '1'], capsys)
    assert status == 0, out
    assert re.search(r'Overall fps: [\d.]+ img / s \(conv-BN fused\)', out)


def test_F5_fasternet_dist_train_sh_with_model_pretrained(data, root, official):
    backbone = official('fasternet_t0_official', None, name='fasternet_t0-epoch=281-val_acc1=71.9180.pth')
    work = root / 'F5'
    status, out = run_subprocess(row('F5', {'CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 ': '',
                                            'configs/fasternet/mask_rcnn_fasternet_s_fpn_1x_coco.py 8':
                                                f'{DET_CONFIG} 1',
                                            'work_dirs/': f'{work}/',
                                            '../model_ckpt/fasternet_t0-epoch=281-val_acc1=71.9180.pth': backbone}),
                                 dense_tiny('F5'))
    assert status == 0, out[-3000:]
    assert 'model.pretrained=' in out and 'model.backbone.init_cfg' in out
    assert glob.glob(str(work / 'mask_rcnn_fasternet_s_fpn_1x_coco' / '*' / 'iter_2.pth'))


def test_M3_M4_mpvit_train_net_eval_only(data, root, det_ckpt, capsys):
    for row_id, config, url in (
            ('M3', 'configs/retinanet/retinanet_mpvit_small_ms_3x.yaml',
             'https://dl.dropbox.com/s/gh00mdtqxoic64e/retinanet_mpvit_small_ms_3x.pth'),
            ('M4', 'configs/maskrcnn/mask_rcnn_mpvit_small_ms_3x.yaml',
             'https://dl.dropbox.com/s/b0fohmjmggahnny/mask_rcnn_mpvit_small_ms_3x.pth')):
        status, out = run_in_process(row(row_id, {config: DET_CONFIG, url: det_ckpt}),
                                     ['OUTPUT_DIR', str(root / row_id), unique(row_id)], capsys)
        assert status == 0, out[-2000:]
        assert 'coco/bbox_mAP' in out


def test_M5_mpvit_train_net_training(data, root, capsys):
    work = root / 'M5'
    status, out = run_in_process(row('M5', {'configs/maskrcnn/mask_rcnn_mpvit_small_ms_3x.yaml': DET_CONFIG,
                                            '--num-gpus 8': '--num-gpus 1'}),
                                 ['OUTPUT_DIR', str(work), 'SOLVER.MAX_ITER', '2', 'SOLVER.CHECKPOINT_PERIOD', '2',
                                  'train_cfg.val_begin=100', unique('M5')], capsys)
    assert status == 0, out[-2000:]
    assert (work / 'iter_2.pth').exists()


# ------------------------------------------------------------------------------------------- segmentation rows
def test_R8_rapidnet_segmentation_train_then_test(data, root, capsys):
    work = root / 'R8'
    status, out = run_in_process(row('R8', {'configs/sem_fpn/fpn_rapidnet_m_ade20k_40k.py': SEG_CONFIG,
                                            'semantic_results/': work}), dense_tiny('R8'), capsys)
    assert status == 0, out[-2000:]
    assert 'model.backbone.model_name=rapidnet_m' in out and (work / 'iter_2.pth').exists()
    # segmentation/tools/test.py in the mmseg 0.x spelling, under the launcher without --use_env
    command = (f'cd segmentation && python -m torch.distributed.launch --nproc_per_node 1 tools/test.py {SEG_CONFIG} '
               f'--checkpoint {work / "iter_2.pth"} --eval mIoU --work-dir {root / "R8t"} --launcher pytorch')
    status, out = run_in_process(command, ['--cfg-options', 'model.backbone.model_name=rapidnet_m',
                                           'model.neck.in_channels=[32,64,160,320]', unique('R8t')], capsys)
    assert status == 0, out[-2000:]
    assert 'mIoU' in out and 'mDice' not in out


# -------------------------------------------------------------------------------------------- Python snippets
def run_snippet(code, **names):
    printed = []
    namespace = dict(names, print=printed.append)
    exec(compile(code.replace('; ', '\n'), '<row>', 'exec'), namespace)
    return namespace, printed


@pytest.mark.parametrize('row_id, name, file', [('X1', 'rexnet_100', './rexnetv1_1.0.pth'),
                                                 ('X2', 'rexnet_lite_100', './rexnet_lite_1.0.pth')])
def test_X1_X2_rexnet_snippets(official, row_id, name, file):
    path = official(f'{name}_official', None)
    code, _ = command_of(row_id)
    code = substitute(code, {file: str(path), 'torch.randn(1, 3, 224, 224)': 'reference_input()'})
    if not torch.cuda.is_available():
        code = code.replace('.cuda()', '')
    _, printed = run_snippet(code, reference_input=reference_input)
    logits = printed[0].detach().float().cpu()
    ref = read_reference(f'{name}_official')  # the authors' code on the same weights and input
    torch.testing.assert_close(logits[:, :32], torch.tensor(ref['logits_head']), atol=1e-4, rtol=0)


def test_N1_repnext_replace_batchnorm():
    code, _ = command_of('N1')
    torch.manual_seed(0)
    namespace, _ = run_snippet(code)
    model = namespace['model']
    torch.manual_seed(0)
    import timm
    reference = timm.create_model('repnext_m1').eval()
    x = torch.randn(2, 3, 64, 64)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-3, rtol=1e-3)


# ----------------------------------------------------------------------------------------------------- tools
def test_N3_repnext_speed(root, capsys):
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    status, out = run_in_process(row('N3', {'--device cuda': f'--device {device}'}),
                                 ['--img-size', '32', '--threads', '1', '--repeats', '1', '--warmup', '0',
                                  '--throughput-batch', '2', '--gpu-batch', '8', '--no-timm-ref', '--no-cpu-time',
                                  '--no-plot', '--quiet', '--out-dir', str(root / 'N3')], capsys)
    assert status == 0, out
    records = json.load(open(root / 'N3' / f'benchmark_{device}.json'))
    assert 'repnext_m1' in json.dumps(records)


@pytest.mark.slow  # Core ML conversion alone takes ~30 s on 2 cores
def test_N2_repnext_export_coreml(root, official, capsys):
    release = official('repnext_m1', 'model')
    status, out = run_in_process(row('N2', {'pretrain/repnext_m1_distill_300e.pth': release}),
                                 ['--img-size', '32', '--out-dir', str(root / 'N2'), '--no-check'], capsys)
    assert status == 0, out
    assert (root / 'N2' / 'repnext_m1_32.mlpackage').exists() and (root / 'N2' / 'repnext_m1_32.onnx').exists()


# ----------------------------------------------------------------------------------- every original flag parses
# Every add_argument option string of RapidNet's, RepNeXt's and MPViT's main.py and FasterNet's train_test.py
# (read from the official repositories), with a value where it takes one.
ORIGINAL_FLAGS = {
    'RapidNet main.py': '--batch-size 8|--gradient_accumulation True|--epochs 1|--model x|--input-size 32|--model-ema|'
                        '--no-model-ema|--model-ema-decay 0.9|--model-ema-force-cpu|--opt sgd|--opt-eps 1e-8|'
                        '--opt-betas 0.9 0.999|--clip-grad 1|--clip-mode agc|--momentum 0.9|--weight-decay 0.05|'
                        '--sched cosine|--lr 1e-3|--lr-noise 0.5 0.8|--lr-noise-pct 0.67|--lr-noise-std 1|'
                        '--warmup-lr 1e-6|--min-lr 1e-5|--decay-epochs 30|--warmup-epochs 5|--cooldown-epochs 10|'
                        '--patience-epochs 10|--decay-rate 0.1|--dr 0.1|--color-jitter 0.4|--aa rand-m9|'
                        '--smoothing 0.1|--train-interpolation bicubic|--repeated-aug|--no-repeated-aug|'
                        '--reprob 0.25|--remode pixel|--recount 1|--resplit|--mixup 0.8|--cutmix 1.0|'
                        '--cutmix-minmax 0.2 0.8|--mixup-prob 1.0|--mixup-switch-prob 0.5|--mixup-mode batch|'
                        '--teacher-model regnety_160|--teacher-path t.pth|--distillation-type none|'
                        '--distillation-alpha 0.5|--distillation-tau 1.0|--finetune f.pth|--data-path d|'
                        '--data-set IMNET|--inat-category name|--output_dir o|--device cpu|--seed 0|--resume r.pth|'
                        '--start_epoch 0|--eval|--dist-eval|--num_workers 2|--pin-mem|--no-pin-mem|--sync-bn|'
                        '--crop_pct 0.9|--world_size 1|--dist_url env://',
    'RepNeXt main.py': '--ThreeAugment|--set_bn_eval|--save_freq 1|--deploy|--project repnext',
    'MPViT main.py': '--debug|--save_freq 10|--model_kwargs "{drop_path_rate: 0.1}"|--disable_amp|--drop 0.1|'
                     '--drop-path 0.1|--drop-block 0.1',
    'FasterNet train_test.py': '-c cfg/fasternet_t0.yaml|--cfg cfg/fasternet_t0.yaml|-g 1|--gpus 0,1|-d 1|--dev 1|'
                               '--num_nodes 1|-n 2|--num_workers 2|-b 64|--batch_size 64|-e 32|--batch_size_eva 32|'
                               '--model_ckpt_dir o|--data_dir d|--pin_memory|--checkpoint_path c.pth|'
                               '--pconv_fw_type slicing|--measure_latency|--test_phase|--fuse_conv_bn|'
                               '--wandb_project_name p|--wandb_offline|--wandb_save_dir w|--pl_ckpt_2_torch_pth',
}


@pytest.mark.parametrize('script', list(ORIGINAL_FLAGS))
def test_every_original_flag_is_accepted(script, capsys):
    from classification.config import parse_args
    for item in ORIGINAL_FLAGS[script].split('|'):
        flag, *values = shlex.split(item)
        argv = ['--model', 'test_efficientnet', '--data-path', 'd', flag, *values]
        args = parse_args(argv)  # argparse exits on 'unrecognized arguments'
        assert args.model in ('test_efficientnet', 'x'), item
    out = capsys.readouterr().out
    # the ones without a meaning here say what to use instead, one line each
    for flag in ('--dist-eval', '--model-ema-force-cpu', '--start_epoch', '--save_freq', '-g', '--wandb_offline'):
        if any(i.split(' ')[0] == flag for i in ORIGINAL_FLAGS[script].split('|')):
            assert len([line for line in out.splitlines() if line.startswith(f'note: {flag}:')]) >= 1, flag


def test_original_flags_change_the_run():
    from classification.config import parse_args
    args = parse_args(['--model', 'test_efficientnet', '--data-path', 'd', '--output_dir', 'o', '--num_workers', '3',
                       '--crop_pct', '0.9', '--dr', '0.2', '--ThreeAugment', '--set_bn_eval', '--disable_amp',
                       '--model_kwargs', '{drop_path_rate: 0.1}', '--gradient_accumulation', 'True', '--local-rank=0'])
    assert (args.output_dir, args.workers, args.crop_pct, args.decay_rate) == ('o', 3, 0.9, 0.2)
    assert args.three_augment and args.bn_eval and not args.amp and args.grad_accum_steps == 4
    assert args.model_kwargs == {'drop_path_rate': 0.1}
    fn = parse_args(['-c', 'cfg/fasternet_t0.yaml', '--data_dir', 'd', '--checkpoint_path', 'c.pth', '--test_phase',
                     '--pconv_fw_type', 'slicing', '--model_ckpt_dir', 'o'])
    assert fn.config.endswith('configs/classification/fasternet/t0.yaml') and fn.model == 'fasternet_t0'
    assert fn.eval and fn.resume == 'c.pth' and fn.data_path == 'd' and fn.output_dir == 'o'
    assert fn.model_kwargs['pconv_fw_type'] == 'slicing'
    with pytest.raises(SystemExit):  # a typo is still an error
        parse_args(['--model', 'test_efficientnet', '--data-path', 'd', '--no-such-flag'])
