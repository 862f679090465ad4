"""Crafted checkpoint files for the loader tests: each would write ``marker`` if any of its code ran.

Pickles are assembled opcode by opcode (protocol 2, as ``torch.save`` writes them) so that a case can use what no
Python object's ``__reduce__`` produces: ``getattr`` chains, SETITEM into dicts reached through allowed objects, BUILD
on an allowed class. The zip cases are real torch archives whose ``data.pkl`` is swapped for the crafted one.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from typing import Callable, Dict, List

import torch


# Each builder appends opcodes that push exactly one value (torch's unpickler has no POP: side effects are collected
# in a list). Push = Callable[[bytearray], None].
def global_(module: str, name: str):
    return lambda out: out.extend(b'c' + module.encode() + b'\n' + name.encode() + b'\n')


def text(value: str):
    data = value.encode()
    return lambda out: out.extend(b'X' + struct.pack('<I', len(data)) + data)


def opcode(code: bytes):
    return lambda out: out.extend(code)


EMPTY_DICT, NONE = opcode(b'}'), opcode(b'N')


def call(function, *args):
    def push(out):
        function(out)
        out.extend(b'(')
        for arg in args:
            arg(out)
        out.extend(b'tR')
    return push


def attr(owner, name: str):
    """``getattr(owner, name)``, as protocol 2 spells a dotted name."""
    return call(global_('__builtin__', 'getattr'), owner, text(name))


def memo(value, index: int):
    return lambda out: (value(out), out.extend(b'q' + bytes([index])))


def ref(index: int):
    return opcode(b'h' + bytes([index]))


def setitem(target, key, value):
    return lambda out: (target(out), key(out), value(out), out.extend(b's'))


def build(target, state):
    return lambda out: (target(out), state(out), out.extend(b'b'))


def dict_of(**items):
    def push(out):
        out.extend(b'}(')
        for key, value in items.items():
            text(key)(out)
            value(out)
        out.extend(b'u')
    return push


def steps(*values):
    """A list holding each value in turn: evaluates them in order."""
    def push(out):
        out.extend(b'](')
        for value in values:
            value(out)
        out.extend(b'e')
    return push


def assemble(value) -> bytes:
    out = bytearray(b'\x80\x02')
    value(out)
    return bytes(out + b'.')


def touch_code(marker: str) -> str:
    return f"open({marker!r}, 'w').close()"


class _ReduceToSystem:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def reduce_os_system(marker: str) -> object:
    """A checkpoint dict whose value unpickles by calling ``os.system`` (the classic payload)."""
    return {'state_dict': {'w': torch.zeros(1)}, 'meta': _ReduceToSystem(marker)}


def pickle_global_not_allowed(marker: str) -> bytes:
    """GLOBAL ``builtins.exec`` called with code: a global that no allow-list names."""
    return assemble(dict_of(meta=call(global_('builtins', 'exec'), text(touch_code(marker)))))


BUILTINS = attr(global_('__builtin__', 'getattr'), '__self__')  # a builtin function's __self__: the module
HISTORY_BUFFER = global_('mmengine.logging.history_buffer', 'HistoryBuffer')


def pickle_getattr_to_eval(marker: str) -> bytes:
    """``getattr(getattr, '__self__')`` is the builtins module; its ``eval`` then runs the code."""
    return assemble(call(attr(BUILTINS, 'eval'), text(touch_code(marker))))


def pickle_setitem_into_globals(marker: str) -> bytes:
    """SETITEM into dicts reached from allowed objects, then a call of an allowed function runs what was planted.

    ``torch._utils._rebuild_parameter`` (on torch's own allow-list) evaluates ``torch.nn.Parameter(data, grad)``
    through its module's globals. Through ``getattr`` a pickle reaches those globals (``__globals__``) and the
    builtins module's dict; it points ``torch`` there at the builtins module, plants ``builtins.nn = builtins`` and
    ``builtins.Parameter = eval``, then calls ``_rebuild_parameter(code, {}, None)``: ``eval(code, {})``.
    """
    return assemble(steps(
        memo(BUILTINS, 1), memo(attr(ref(1), '__dict__'), 2), memo(attr(ref(1), 'eval'), 3),
        memo(global_('torch._utils', '_rebuild_parameter'), 4),
        setitem(attr(ref(4), '__globals__'), text('torch'), ref(1)),
        setitem(ref(2), text('nn'), ref(1)), setitem(ref(2), text('Parameter'), ref(3)),
        call(ref(4), text(f"__import__('os').system('touch {marker}')"), EMPTY_DICT, NONE)))


def pickle_setitem_into_history_buffer(marker: str) -> bytes:
    """SETITEM into ``HistoryBuffer._statistics_methods`` (class-level state shared by every buffer), then the
    statistic is asked for through an allowed call: ``HistoryBuffer().statistics('mean', code)``."""
    return assemble(steps(
        setitem(attr(HISTORY_BUFFER, '_statistics_methods'), text('mean'), attr(BUILTINS, 'exec')),
        memo(call(HISTORY_BUFFER), 1),
        call(attr(ref(1), 'statistics'), text('mean'), text(touch_code(marker)))))


def pickle_build_on_class(marker: str) -> bytes:
    """BUILD on an allowed class plants ``__init__ = exec``, then the class is called with code."""
    return assemble(steps(build(HISTORY_BUFFER, dict_of(__init__=global_('builtins', 'exec'))),
                          call(HISTORY_BUFFER, text(touch_code(marker)))))


def pickle_build_on_instance(marker: str) -> bytes:
    """BUILD on a HistoryBuffer instance with state mmengine never writes (a callable where data belongs)."""
    buffer = build(opcode(b'c' + b'mmengine.logging.history_buffer\nHistoryBuffer\n' + b')\x81'),
                   dict_of(update=global_('torch._utils', '_rebuild_parameter')))
    return assemble(dict_of(message_hub=dict_of(log_scalars=dict_of(loss=buffer))))


# ---------------------------------------------------------------------------------------------- file forms
def _zip_with_pickle(data_pkl: bytes) -> bytes:
    """A genuine torch zip archive (version, byteorder records) whose data.pkl is ``data_pkl``."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = data_pkl if info.filename.endswith('/data.pkl') else source.read(info)
            target.writestr(info.filename, data)
    return out.getvalue()


def _legacy_with_pickle(data_pkl: bytes) -> bytes:
    """torch's pre-1.6 format: magic number, protocol, system info, the object, storage keys."""
    head = io.BytesIO()
    for item in (0x1950a86a20f9469cfc6c, 1001, dict(protocol_version=1001, little_endian=True,
                                                     type_sizes=dict(short=2, int=4, long=4))):
        pickle.dump(item, head, protocol=2)
    tail = pickle.dumps([], protocol=2)
    return head.getvalue() + data_pkl + tail


def _torch_save(obj: object, zip_format: bool) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


def lying_safetensors() -> bytes:
    """A header whose tensor claims bytes far past the end of the file."""
    header = json.dumps({'w': {'dtype': 'F32', 'shape': [1024, 1024], 'data_offsets': [0, 4 * 1024 * 1024]}}).encode()
    return struct.pack('<Q', len(header)) + header + b'\0' * 16


def oversized_safetensors_header() -> bytes:
    """A header length larger than the file itself."""
    return struct.pack('<Q', 1 << 40) + b'{}'


def truncated_checkpoint() -> bytes:
    data = _torch_save({'state_dict': {'w': torch.zeros(64, 64)}}, zip_format=True)
    return data[:len(data) // 2]


# name -> (file suffix, builder(marker) -> bytes). Every case is a file no loader may act on.
CASES: Dict[str, tuple] = {
    'reduce_os_system_zip': ('.pth', lambda m: _torch_save(reduce_os_system(m), zip_format=True)),
    'reduce_os_system_legacy': ('.pth', lambda m: _torch_save(reduce_os_system(m), zip_format=False)),
    'global_not_allowed': ('.pth', lambda m: _zip_with_pickle(pickle_global_not_allowed(m))),
    'getattr_chain_to_eval': ('.pth', lambda m: _zip_with_pickle(pickle_getattr_to_eval(m))),
    'getattr_chain_legacy': ('.pth', lambda m: _legacy_with_pickle(pickle_getattr_to_eval(m))),
    'setitem_into_module_globals': ('.pth', lambda m: _zip_with_pickle(pickle_setitem_into_globals(m))),
    'setitem_into_class_state': ('.pth', lambda m: _zip_with_pickle(pickle_setitem_into_history_buffer(m))),
    'build_on_class_then_call': ('.pth', lambda m: _zip_with_pickle(pickle_build_on_class(m))),
    'build_on_instance': ('.pth', lambda m: _zip_with_pickle(pickle_build_on_instance(m))),
    'safetensors_lying_header': ('.safetensors', lambda m: lying_safetensors()),
    'safetensors_oversized_header': ('.safetensors', lambda m: oversized_safetensors_header()),
    'truncated_zip': ('.pth', lambda m: truncated_checkpoint()),
}
CODE_CASES: List[str] = [name for name in CASES if not name.startswith(('safetensors', 'truncated'))]


def write_case(name: str, directory: str) -> tuple:
    """Write case ``name`` under ``directory``; returns (file path, marker path the payload would create)."""
    suffix, build = CASES[name]
    marker = os.path.join(directory, f'{name}.pwned')
    path = os.path.join(directory, name + suffix)
    with open(path, 'wb') as f:
        f.write(build(marker))
    return path, marker
