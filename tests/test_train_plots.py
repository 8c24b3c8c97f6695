"""The main job's ``--plots``: every file written is named; an empty history (Ctrl-C before
the first epoch ended) is reported, not a crash."""
import io
import os

import pytest

from fastconv import models, train


def run(*argv):
    out = io.StringIO()
    status = train.main(list(argv), stdout=out)
    return status, out.getvalue()


def test_plots_name_each_file_written(tmp_path):
    pytest.importorskip("matplotlib")
    d = tmp_path / "plots"
    status, text = run("--epochs", "1", "--verbose", "0", "--plots", str(d))
    assert status == 0, text
    written = sorted(os.path.join(d, f) for f in os.listdir(d))
    assert len(written) == 3
    assert f"saved 3 plot file(s) to {d}" in text
    named = [line.strip() for line in text.splitlines() if line.startswith("  ")]
    assert sorted(named) == written
    assert text.rstrip("\n").splitlines()[-1].startswith("test accuracy: ")


def test_empty_history_says_why_no_plots(tmp_path):
    history = models.History()
    history.interrupted = True
    out = io.StringIO()
    d = tmp_path / "never"
    train._save_plots(None, history, None, str(d), out)
    assert "no plots written: training was interrupted before the first epoch ended" \
        in out.getvalue()
    assert not d.exists()


def test_interrupt_before_first_epoch_ends_does_not_crash_plots(monkeypatch, tmp_path):
    def interrupted_fit(self, *args, **kwargs):
        history = models.History()
        history.interrupted = True
        return history

    monkeypatch.setattr(models.Sequential, "fit", interrupted_fit)
    status, text = run("--epochs", "1", "--verbose", "0", "--plots", str(tmp_path / "p"))
    assert status == 0
    assert "no plots written" in text and "interrupted" in text
    assert text.rstrip("\n").splitlines()[-1].startswith("test accuracy: ")
