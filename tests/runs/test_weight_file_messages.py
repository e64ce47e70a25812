"""A damaged weight file is one line that never passes on NumPy's advice to load it
unsafely (allow_pickle=True)."""

from __future__ import annotations


def test_junk_in_weights_npz_is_one_line_without_unsafe_advice(cli, train_run):
    run = train_run("xor-2-4-1", "--epochs", "2")
    (run / "weights.npz").write_text("junk\n")
    result = cli("eval", str(run))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "weights.npz: not a readable dlzero weight file" in line, line
    assert "allow_pickle" not in line and "unsafely" not in line
