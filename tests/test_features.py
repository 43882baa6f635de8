import numpy as np
import pytest
import soundfile as sf

from serkit.audio.mel import log_mel, mel_filters
from serkit.audio.synth import tone_clip
from serkit.core.errors import ConfigError
from serkit.data.corpora import Utterance
from serkit.features import FeatureCache, build_frontend, extract_features
from serkit.features.whisper_torch import whisper_encoder_macs


def test_mel_filters_match_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    assert np.allclose(mel_filters(), ref, atol=1e-6)


def test_log_mel_shape_and_known_values():
    x = tone_clip(1.0)
    m = log_mel(x)
    assert m.shape == (80, 100) and m.dtype == np.float32
    # Whisper's normalisation: at most 8 decades of range, scaled by (x + 4) / 4
    assert m.max() - m.min() <= 2.0 + 1e-6
    # silence: log10(1e-10) everywhere -> (-10 + 4) / 4 = -1.5
    assert np.allclose(log_mel(np.zeros(16000)), -1.5)


def test_log_mel_matches_torch_stft_reference():
    torch = pytest.importorskip("torch")
    x = tone_clip(0.7, seed=3)
    w = torch.hann_window(400)
    stft = torch.stft(
        torch.from_numpy(x.astype(np.float64)), 400, 160, window=w.double(), return_complex=True
    )
    mag = stft[..., :-1].abs() ** 2
    mel = torch.from_numpy(mel_filters().astype(np.float64)) @ mag
    ref = torch.clamp(mel, min=1e-10).log10()
    ref = torch.maximum(ref, ref.max() - 8.0)
    ref = ((ref + 4.0) / 4.0).numpy()
    assert np.allclose(log_mel(x), ref, atol=1e-4)


ALL_STATES = {"layers": []}  # empty = all five hidden states


@pytest.fixture(scope="module")
def clips():
    return [
        tone_clip(1.3, seed=1),
        tone_clip(0.62, seed=2, f0=220),
        tone_clip(2.05, seed=3),
        tone_clip(1.3, seed=4),
    ]


def test_whisper_ct2_batching_equals_single(clips):
    fe = build_frontend("whisper-tiny")
    batched = fe.extract_batch(clips, 16000)
    for x, b in zip(clips, batched):
        single = fe.extract(x, 16000)
        assert b.shape == single.shape == (1, (log_mel(x).shape[1] + 1) // 2, 384)
        assert np.array_equal(b, single)


def test_whisper_layers_padding_invariant(clips):
    fe = build_frontend("whisper-tiny-layers", ALL_STATES)
    batched = fe.extract_batch(clips, 16000)  # different lengths padded in one batch
    for x, b in zip(clips, batched):
        assert b.shape[0] == 5
        assert np.max(np.abs(b - fe.extract(x, 16000))) < 1e-4


def test_torch_encoder_matches_ctranslate2(clips):
    """The rebuilt encoder's last state equals CTranslate2 (float32: tight; int8: close)."""
    layers = build_frontend("whisper-tiny-layers", ALL_STATES).extract_batch(clips[:2], 16000)
    f32 = build_frontend("whisper-tiny", {"compute_type": "float32"}).extract_batch(
        clips[:2], 16000
    )
    i8 = build_frontend("whisper-tiny").extract_batch(clips[:2], 16000)
    for lay, a, b in zip(layers, f32, i8):
        assert np.max(np.abs(lay[-1] - a[0])) < 1e-3
        cos = (
            (lay[-1] * b[0]).sum(-1)
            / np.linalg.norm(lay[-1], axis=-1)
            / np.linalg.norm(b[0], axis=-1)
        )
        assert cos.min() > 0.97


def test_whisper_long_audio_is_windowed():
    fe = build_frontend("whisper-tiny")
    x = tone_clip(31.0, seed=5)
    f = fe.extract(x, 16000)
    assert f.shape == (1, 1500 + 50, 384)


def test_layer_selection_and_truncation(clips):
    assert build_frontend("whisper-tiny-layers").layer_names == [
        "conv",
        "block1",
        "block2",
    ]  # the default
    full = build_frontend("whisper-tiny-layers", ALL_STATES).extract(clips[0], 16000)
    sub = build_frontend("whisper-tiny-layers", {"layers": [0, 2]}).extract(clips[0], 16000)
    assert sub.shape[0] == 2
    assert np.max(np.abs(sub - full[[0, 2]])) < 1e-4


@pytest.mark.parametrize(
    "name,shape",
    [
        ("logmel", (1, 50, 80)),
        ("egemaps", (1, 1, 88)),
        ("compare", (1, 1, 6373)),
        ("mfcc-chroma", (1, 8, 46)),
    ],
)
def test_other_frontends_shapes(name, shape):
    fe = build_frontend(name)
    f = fe.extract(tone_clip(1.0), 16000)
    assert f.shape == shape and np.all(np.isfinite(f)) and fe.dim == shape[2]


def test_egemaps_lld_frames():
    f = build_frontend("egemaps", {"level": "lld"}).extract(tone_clip(1.0), 16000)
    assert f.shape[0] == 1 and f.shape[2] == 25 and 90 <= f.shape[1] <= 100


def test_unknown_frontend_and_bad_config():
    with pytest.raises(ConfigError, match="unknown frontend"):
        build_frontend("nope")
    with pytest.raises(ConfigError, match="unknown config key"):
        build_frontend("logmel", {"poool": 2})
    with pytest.raises(ConfigError, match="not found"):
        build_frontend("hf:/does/not/exist")


def test_encoder_macs_scale():
    m3 = whisper_encoder_macs(300)
    assert m3 > 1e9
    assert whisper_encoder_macs(600) > 2 * m3  # attention is quadratic


def _utts(tmp_path, n=3):
    out = []
    for i in range(n):
        p = tmp_path / f"u{i}.wav"
        sf.write(p, tone_clip(0.5 + 0.1 * i, seed=i), 16000)
        out.append(Utterance(id=f"u{i}", audio=str(p), duration=0.5, label="a", speaker="s"))
    return out


def test_cache_hits_and_invalidation(tmp_path):
    utts = _utts(tmp_path)
    cache = FeatureCache(tmp_path / "cache")
    fe = build_frontend("logmel")
    r1 = extract_features(fe, utts, cache, progress=False)
    assert (r1.extracted, r1.cached) == (3, 0)
    r2 = extract_features(fe, utts, cache, progress=False)
    assert (r2.extracted, r2.cached) == (0, 3)
    for k in r1.features:
        assert np.array_equal(r1.features[k], r2.features[k])
    # a changed config re-extracts everything
    r3 = extract_features(build_frontend("logmel", {"pool": 1}), utts, cache, progress=False)
    assert r3.extracted == 3
    # a changed file re-extracts that file only
    sf.write(utts[1].audio, tone_clip(0.9, seed=42), 16000)
    r4 = extract_features(fe, utts, cache, progress=False)
    assert (r4.extracted, r4.cached) == (1, 2)
    assert r4.features["u1"].shape != r1.features["u1"].shape
    # no temp files left behind
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_damaged_cache_entry_is_rewritten(tmp_path):
    utts = _utts(tmp_path, 1)
    cache = FeatureCache(tmp_path / "cache")
    fe = build_frontend("logmel")
    extract_features(fe, utts, cache, progress=False)
    cache.path_for(fe, utts[0]).write_bytes(b"garbage")
    r = extract_features(fe, utts, cache, progress=False)
    assert r.extracted == 1 and r.features["u0"].shape[2] == 80


def test_bad_files_are_reported_and_skipped(tmp_path):
    utts = _utts(tmp_path, 2)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    utts.append(Utterance(id="bad", audio=str(bad), duration=1.0, label="a"))
    utts.append(Utterance(id="gone", audio=str(tmp_path / "gone.wav"), duration=1.0, label="a"))
    r = extract_features(
        build_frontend("logmel"), utts, FeatureCache(tmp_path / "c"), progress=False
    )
    assert sorted(r.features) == ["u0", "u1"]
    reasons = dict(r.failed)
    assert "unreadable audio" in reasons["bad"] and "file not found" in reasons["gone"]


def test_hf_frontend_needs_local_path_and_transformers(tmp_path):
    from serkit.core.errors import MissingDependencyError

    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match=r"pip install 'serkit\[hf\]'"):
            build_frontend(f"hf:{tmp_path}")
    else:  # transformers present: an empty folder is not a checkpoint, and nothing is downloaded
        with pytest.raises(Exception):
            build_frontend(f"hf:{tmp_path}")


def test_native_rate_frontend_cost_is_counted_at_the_files_rate(tmp_path, tone_writer):
    """mfcc-chroma runs at the file's own rate: a 48 kHz corpus costs 3x the frames of 16 kHz."""
    from serkit.data.manifest import Utterance
    from serkit.experiment.dataset import Dataset
    from serkit.features import FeatureCache, build_frontend

    fe = build_frontend("mfcc-chroma")
    wav48 = tone_writer(tmp_path / "a.wav", seconds=0.5, sr=48000)
    d = Dataset(
        [Utterance(id="a", audio=str(wav48), duration=0.5, label="x")],
        {},
        ["x"],
        fe,
        FeatureCache(tmp_path),
    )
    assert d.encoder_macs(3.0) == fe.encoder_macs(3.0, 48000)
    assert fe.encoder_macs(3.0, 48000) > 2.9 * fe.encoder_macs(3.0, 16000)


def test_mfcc_chroma_matches_the_public_reslstm_recipe(tmp_path):
    """Issue 33, feature parity: serkit's ``mfcc-chroma`` on a RAVDESS-named 48 kHz 16-bit file,
    through the real extraction path (manifest utterance -> loader -> frontend), equals the
    public ResLSTM-SER notebook's ``extract_features`` (Mak-Sim/ResLSTM-SER, train.ipynb:
    ``librosa.load(sr=None)``, ``librosa.feature.mfcc(n_mfcc=34, n_fft=4096, hop_length=2048)``,
    ``librosa.feature.chroma_stft(y=..., n_chroma=12, n_fft=4096, hop_length=2048)``, no
    padding or truncation; its global normalisation is a protocol matter, not the feature's)."""
    import librosa
    import soundfile as sf

    from serkit.data.manifest import Utterance
    from serkit.features import FeatureCache, build_frontend, extract_features

    sr, n = 48000, 72000  # 1.5 s, RAVDESS's rate
    t = np.arange(n) / sr
    f0 = 180 + 30 * np.sin(2 * np.pi * 3 * t)  # a voiced, gliding tone with harmonics and noise
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    x += 0.01 * np.random.default_rng(0).normal(size=n)
    path = tmp_path / "Actor_07" / "03-01-05-01-01-01-07.wav"
    path.parent.mkdir()
    sf.write(path, x, sr, subtype="PCM_16")

    fe = build_frontend("mfcc-chroma")
    utt = Utterance(id="r", audio=str(path), duration=1.5, label="anger", speaker="07")
    got = extract_features(fe, [utt], FeatureCache(tmp_path / "c"), progress=False).features["r"]

    audio, rate = librosa.load(path, sr=None)  # the public recipe, line for line
    mfcc = librosa.feature.mfcc(y=audio, sr=rate, n_mfcc=34, n_fft=4096, hop_length=2048).T
    chroma = librosa.feature.chroma_stft(
        y=audio, sr=rate, n_fft=4096, n_chroma=12, hop_length=2048
    ).T
    want = np.concatenate([mfcc, chroma], axis=1)
    assert rate == 48000 and want.shape == (1 + n // 2048, 46)
    assert got.shape == (1,) + want.shape
    # the cache stores float16: its rounding (0.06 at a magnitude of 150) is all that differs
    assert np.abs(got[0].astype(np.float32) - want).max() < 1e-3 * np.abs(want).max()
    assert np.abs(got[0, :, 34:].astype(np.float32) - want[:, 34:]).max() < 1e-3  # chroma in [0, 1]
