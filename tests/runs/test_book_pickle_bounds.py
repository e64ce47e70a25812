"""The book-pickle reader against hostile and odd files.

Each hostile pickle below is first shown to be live: plain `pickle.loads` runs it and a
marker file appears. The restricted unpickler must then refuse it with one DataError
line and the marker must stay absent. Several reach code through NumPy's own modules
(`numpy.testing._private.utils.runstring` execs a string; `numpy.f2py.f2py2e` and
`numpy.testing._private.utils` hold `os`), so an allowlist widened to every `numpy.*`
name fails here, not only one that lets `os.system` through.
"""

from __future__ import annotations

import importlib
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from dlzero_cli.errors import DataError
from dlzero_cli.pretrained import read_param_pickle


def _str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE


def call_pickle(module: str, name: str, args: tuple) -> bytes:
    """A protocol-4 pickle that calls module.name(*args) (name may be dotted: `os.system`
    reached as an attribute of a module that imported os)."""
    arguments = pickle.dumps(args, protocol=0)[:-1]  # without its STOP
    return b"\x80\x04" + _str(module) + _str(name) + b"\x93" + arguments + b"R."


def global_pickle(module: str, name: str, args: tuple) -> bytes:
    """The same call with protocol 0's GLOBAL opcode (what protocol-2 files use)."""
    arguments = pickle.dumps(args, protocol=0)[:-1]
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n" + arguments + b"R."


def hostile(marker: Path) -> dict[str, bytes]:
    """name -> a pickle that creates `marker` when loaded without restriction."""
    touch = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    py = sys.executable
    cases = {
        "numpy-runstring": call_pickle("numpy.testing._private.utils", "runstring", (code, {})),
        "numpy-runstring-global": global_pickle(
            "numpy.testing._private.utils", "runstring", (code, {})
        ),
        "numpy-testing-os": call_pickle("numpy.testing._private.utils", "os.system", (touch,)),
        "numpy-f2py-os": call_pickle("numpy.f2py.f2py2e", "os.system", (touch,)),
        "numpy-core-builtins": call_pickle("numpy", "_core.numeric.builtins.exec", (code,)),
        "builtins-eval": global_pickle("builtins", "eval", (code,)),
        "builtins-exec": call_pickle("builtins", "exec", (code,)),
        "os-system": global_pickle("os", "system", (touch,)),
        "posix-system": global_pickle("posix", "system", (touch,)),
        "subprocess-popen": global_pickle("subprocess", "check_call", ([py, "-c", code],)),
    }
    return cases


def _reachable(module: str, name: str) -> bool:
    try:
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return False
    return True


HOSTILE_NAMES = [
    "numpy-runstring",
    "numpy-runstring-global",
    "numpy-testing-os",
    "numpy-f2py-os",
    "numpy-core-builtins",
    "builtins-eval",
    "builtins-exec",
    "os-system",
    "posix-system",
    "subprocess-popen",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_pickles_are_live_and_refused_before_anything_runs(tmp_path, name):
    marker = tmp_path / "ran"
    payload = hostile(marker)[name]
    try:
        pickle.loads(payload)  # the unrestricted unpickler: proves the pickle is live
    except (ImportError, AttributeError):
        pytest.skip(f"{name}: this NumPy does not have the module")
    assert marker.exists(), f"{name} is not a live exploit; the test would prove nothing"
    marker.unlink()
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        read_param_pickle(path)
    assert "refused to load" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_numpy_distutils_exec_command_is_refused(tmp_path):
    """numpy.distutils runs shell commands; the refusal must not depend on whether this
    NumPy still ships it (the name is refused before any import)."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(
        global_pickle("numpy.distutils.exec_command", "exec_command", (f"touch {marker}",))
    )
    with pytest.raises(DataError, match="refused to load numpy.distutils.exec_command"):
        read_param_pickle(path)
    assert not marker.exists()


def test_the_ndarray_global_cannot_be_called_to_allocate(tmp_path):
    """numpy.ndarray is allowed as the class _reconstruct rebuilds, but calling it
    directly would allocate whatever shape the file names."""
    path = tmp_path / "big.pkl"
    path.write_bytes(global_pickle("numpy", "ndarray", ((10**6, 10**6),)))
    with pytest.raises(DataError, match="not a readable pickle"):
        read_param_pickle(path)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.array([object(), 1], dtype=object)[1:], "Python objects"),
        (np.array(["a", "b"]), "text"),
        (np.array([b"a"]), "bytes"),
        (np.zeros(2, dtype=[("x", "f4"), ("y", "i4")]), "records"),
        (np.ones(2, dtype=np.complex128), "complex numbers"),
        (np.ones(2, dtype=bool), "true/false values"),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), "dates"),
        (np.array([1], dtype="timedelta64[s]"), "time spans"),
        (np.zeros(2, dtype="V4"), "records"),
    ],
)
def test_weights_must_be_real_number_arrays(tmp_path, array, words):
    if array.dtype == object:
        array = np.array([1.0, 2.0], dtype=object)
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": array, "b1": np.zeros(2)}))
    with pytest.raises(DataError) as info:
        read_param_pickle(path)
    message = str(info.value)
    assert message.startswith(f"{path}: W1 is an array of {words}")
    assert "\n" not in message


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int64", "uint8"])
def test_real_floating_and_integer_arrays_load(tmp_path, dtype):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": np.arange(6, dtype=dtype).reshape(2, 3)}))
    assert read_param_pickle(path)["W1"].dtype == np.dtype(dtype)


def test_an_object_array_built_from_allowed_globals_is_refused_by_its_dtype(tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": np.array([np.float64(1.0), None], dtype=object)}))
    with pytest.raises(DataError, match="W1 is an array of Python objects"):
        read_param_pickle(path)


def test_import_of_a_complex_weight_is_one_line_exit_1(cli, tmp_path):
    path = tmp_path / "w.pkl"
    params = {"W1": np.ones((64, 10), np.complex64), "b1": np.zeros(10)}
    path.write_bytes(pickle.dumps(params))
    config = tmp_path / "c.yaml"
    config.write_text("name: g\nmodel: {layers: 64-10}\n", encoding="utf-8")
    result = cli("import", "book", str(path), "--config", str(config))
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "complex numbers" in result.stderr


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x02]r" + (2**30).to_bytes(4, "little") + b".",  # LONG_BINPUT 2**30: 16 GB
        b"\x80\x02]q\xff.",  # BINPUT 255 after one object
        b"(lp99999999\n.",  # protocol 0's PUT with a decimal index
    ],
)
def test_a_memo_index_beyond_the_objects_stored_is_refused_before_unpickling(tmp_path, payload):
    """The C unpickler grows and zero-fills its memo table up to the index a PUT names:
    a 10-byte file with LONG_BINPUT 2**30 would touch 16 GB (2**26 measured: 1 GB)."""
    path = tmp_path / "memo.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=r"not a readable pickle \(memo index"):
        read_param_pickle(path)


def test_memo_indices_as_pickle_writes_them_load(tmp_path):
    shared = np.ones(3)
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": shared, "b1": np.zeros(3), "W2": shared}, protocol=2))
    params = read_param_pickle(path)
    assert sorted(params) == ["W1", "W2", "b1"]


def test_numpy_scalars_are_built_from_their_exact_bytes_only(tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones(2), "lr": np.float64(0.1)}, protocol=2))
    with pytest.raises(
        DataError, match=r"expected a dict of name -> NumPy array, but 'lr' holds the number 0\.1"
    ):
        read_param_pickle(path)
    # scalar(dtype('O'), ...) would hand back any object; scalar(dtype, b'') nothing real
    for args in ((np.dtype("O"), b"\0" * 8), (np.dtype("f8"), b"\0" * 4)):
        payload = pickle.dumps(args, protocol=2)[2:-1]
        path.write_bytes(b"\x80\x02cnumpy.core.multiarray\nscalar\n" + payload + b"R.")
        with pytest.raises(DataError, match="unexpected scalar construction"):
            read_param_pickle(path)
