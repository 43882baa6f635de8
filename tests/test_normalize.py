"""Speaker-level feature normalisation: statistics, invariances, edge cases, bench wiring."""

import numpy as np
import pytest

from serkit.core.errors import ConfigError
from serkit.features.normalize import SpeakerNormalizer, normalize_features


def _feats(rng, n, L=2, D=3, offset=0.0, scale=1.0):
    return [
        (offset + scale * rng.normal(size=(L, int(rng.integers(3, 9)), D))).astype(np.float32)
        for _ in range(n)
    ]


def test_each_speaker_is_zero_mean_unit_std_per_layer_and_dim(rng):
    fa, fb = _feats(rng, 4, offset=5.0, scale=3.0), _feats(rng, 3, offset=-2.0, scale=0.5)
    norm = SpeakerNormalizer().fit(fa + fb, ["a"] * 4 + ["b"] * 3)
    for fs, s in ((fa, "a"), (fb, "b")):
        z = np.concatenate([norm.transform(f, s) for f in fs], axis=1)  # (L, frames, D)
        assert z.shape[0] == 2 and z.shape[2] == 3
        np.testing.assert_allclose(z.mean(1), 0.0, atol=1e-4)
        np.testing.assert_allclose(z.std(1), 1.0, atol=1e-3)
    assert norm.stats["a"].utterances == 4 and norm.stats["a"].frames == sum(f.shape[1] for f in fa)


def test_invariant_to_a_speakers_gain_and_offset_and_independent_of_other_speakers(rng):
    fa, fb = _feats(rng, 4), _feats(rng, 3)
    gain = np.array([2.0, 0.5, 7.0], np.float32)  # per feature dimension
    moved = [f * gain - 4.0 for f in fa]
    n1 = SpeakerNormalizer().fit(fa + fb, ["a"] * 4 + ["b"] * 3)
    n2 = SpeakerNormalizer().fit(moved, ["a"] * 4)  # speaker b absent: a's statistics unchanged
    for f, g in zip(fa, moved):
        np.testing.assert_allclose(n1.transform(f, "a"), n2.transform(g, "a"), atol=1e-4)


def test_removes_speaker_level_so_within_speaker_contrast_separates_classes(rng):
    # speaker s sits at 10*s, class c adds +-1 on dim 0: raw dim 0 is dominated by the speaker
    feats, spk, y = [], [], []
    for s in range(4):
        for c in (0, 1):
            for _ in range(3):
                f = rng.normal(0, 0.2, size=(1, 5, 2)).astype(np.float32)
                f[..., 0] += 10 * s + (1 if c else -1)
                feats.append(f), spk.append(s), y.append(c)
    raw = np.array([f[0, :, 0].mean() for f in feats])
    assert not all((raw > np.median(raw)) == np.array(y, bool))  # a global threshold fails
    norm = SpeakerNormalizer().fit(feats, spk)
    z = np.array([norm.transform(f, s)[0, :, 0].mean() for f, s in zip(feats, spk)])
    assert all((z > 0) == np.array(y, bool))


def test_silent_and_one_frame_speakers_are_finite():
    silent = [np.zeros((2, 6, 3), np.float32), np.zeros((2, 4, 3), np.float32)]
    one = [np.ones((2, 1, 3), np.float32)]
    norm = SpeakerNormalizer().fit(silent + one, ["s", "s", "o"])
    for f, s in ((silent[0], "s"), (one[0], "o")):
        z = norm.transform(f, s)
        assert np.isfinite(z).all() and np.allclose(z, 0.0)


def test_errors_are_typed():
    f = [np.zeros((1, 2, 3), np.float32)]
    with pytest.raises(ConfigError, match="speaker id"):
        SpeakerNormalizer().fit(f, [None])
    with pytest.raises(ConfigError, match="no statistics"):
        SpeakerNormalizer().fit(f, ["a"]).transform(f[0], "b")
    with pytest.raises(ConfigError, match=r"\(L, T, D\)"):
        SpeakerNormalizer().fit([np.zeros((2, 3), np.float32)], ["a"])
    with pytest.raises(ConfigError, match="normalize must be"):
        normalize_features({"x": f[0]}, {"x": "a"}, "utterance")
    same, norm = normalize_features({"x": f[0]}, {"x": "a"}, "none")
    assert norm is None and same["x"] is f[0]


def test_bench_speaker_normalisation_is_recorded_and_reaches_the_model_and_the_bank(
    tmp_path, toy_corpus, cache_dir, monkeypatch
):
    import serkit.features.normalize as nm
    from serkit.data.corpora import prepare, write_manifest
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import RunConfig, experiment_from_dict

    m = tmp_path / "toy.jsonl"
    write_manifest(prepare("folder", toy_corpus, speaker_regex=r"^(spk\d+)_").utterances, m)
    calls = []
    real = nm.SpeakerNormalizer.transform

    def spy(self, x, speaker):
        calls.append(speaker)
        return real(self, x, speaker)

    monkeypatch.setattr(nm.SpeakerNormalizer, "transform", spy)
    base = dict(manifest=str(m), frontend="logmel", protocol="loso", seeds=1)
    cfg = experiment_from_dict(
        {
            **base,
            "model": {"name": "mll", "pool": 1, "train": {"epochs": 2}},
            "normalize": "speaker",
        }
    )
    r = run_bench(cfg, tmp_path / "run", RunConfig(cache_dir=str(cache_dir), progress=False))
    assert r.normalize == "speaker" and "normalize" in r.metric_definitions
    assert (
        len(calls) == 24 + 4 * 24
    )  # every clean utterance, then every EAM variant (4 per utterance)
    assert (tmp_path / "run" / "config.yaml").read_text().count("normalize: speaker") == 1
    from serkit.experiment.report import results_table

    assert "| loso + speaker-norm |" in results_table([tmp_path / "run"])  # never left unsaid
    assert "loso + speaker-norm" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(ConfigError, match="normalize: must be one of 'none' | 'speaker'"):
        experiment_from_dict({**base, "model": "logreg", "normalize": "global"})


def test_train_refuses_speaker_normalisation_a_saved_model_cannot_carry(tmp_path):
    from serkit.experiment.config import experiment_from_dict
    from serkit.experiment.train import train_model

    with pytest.raises(ConfigError, match="evaluation protocol"):
        train_model(
            experiment_from_dict(
                {"manifest": "unused.jsonl", "model": "logreg", "normalize": "speaker"}
            ),
            tmp_path / "m.pt",
        )
