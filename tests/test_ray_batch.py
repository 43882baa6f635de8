"""Batch inference on Ray Data: the same predictions as the plain path, resumable, bad files
listed with their reason."""

import numpy as np
import pytest
import soundfile as sf

from serkit.audio.synth import tone_clip

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="ray not installed (pip install 'serkit[ray]')")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_predictions_equal_the_plain_path_and_resume(tmp_path):
    import pandas as pd

    from serkit.batch import input_files, predict_dataset, predict_files

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(12):
        x = tone_clip(1.0 + i % 3) * (0.3 + 0.05 * i)
        sf.write(folder / f"c{i:02d}.wav", x.astype(np.float32), 16000)
    (folder / "broken.wav").write_bytes(b"not audio")
    files = input_files(folder)
    out = tmp_path / "pred.parquet"
    good = [f for f in files if not f.endswith("broken.wav")]
    first = predict_dataset(
        good[:5], out, engine="torch", workers=1, batch_size=4, progress=False, log=lambda m: None
    )
    assert first["predicted"] == 5 and first["errors"] == 0
    r = predict_dataset(
        folder, out, engine="torch", workers=1, batch_size=4, progress=False, log=lambda m: None
    )
    assert r["done_before"] == 5 and r["predicted"] == 7 and r["errors"] == 1 and r["files"] == 13
    errs = pd.read_csv(r["errors_file"])
    assert errs["path"].str.endswith("broken.wav").all() and "unreadable" in errs["reason"][0]
    df = pd.read_parquet(out)
    assert (
        len(df) == 12 and df["path"].is_unique and not out.with_name("pred.parquet.parts").exists()
    )
    plain = pd.DataFrame(
        [row for rows, _ in predict_files(good, engine="torch", batch_size=4) for row in rows]
    )
    merged = df.merge(plain, on="path", suffixes=("", "_plain"))
    assert len(merged) == 12 and (merged["label"] == merged["label_plain"]).all()
    for c in [c for c in df if c.startswith("p_")]:
        assert np.abs(merged[c] - merged[c + "_plain"]).max() < 1e-4
    with pytest.raises(Exception, match="parquet or .csv"):
        predict_dataset(folder, tmp_path / "x.txt", log=lambda m: None)


def test_parts_are_written_by_time_too_and_every_worker_gets_blocks(tmp_path, monkeypatch):
    """Issue 29 item 15: a run that is killed loses at most PART_S seconds of work (parts used to
    be written only every 256 rows), and the files are split so both workers get some."""
    from serkit.deploy import ray_batch

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(8):
        sf.write(folder / f"c{i}.wav", tone_clip(1.0, seed=i), 16000)
    writes = []
    real = ray_batch._write_table
    monkeypatch.setattr(ray_batch, "PART_S", 0.0)
    monkeypatch.setattr(
        ray_batch, "_write_table", lambda df, path: (writes.append(len(df)), real(df, path))[1]
    )
    r = ray_batch.predict_dataset(
        folder,
        tmp_path / "p.parquet",
        engine="torch",
        workers=2,
        batch_size=16,
        progress=False,
        log=lambda m: None,
    )
    assert r["predicted"] == 8
    assert len(writes) >= 3 and max(writes[:-1]) < 8  # several parts, then the merge of all 8 rows
