import numpy as np
import pytest
import soundfile as sf

from serkit.audio.io import AudioConfig, audio_duration, load_audio, prepare_signal
from serkit.audio.synth import tone_clip
from serkit.core.errors import AudioError


def test_reads_mono_16k_float(tmp_path, tone_writer):
    p = tone_writer(tmp_path / "a.wav", seconds=1.0)
    x = load_audio(p)
    assert x.dtype == np.float32 and x.shape == (16000,)
    assert np.max(np.abs(x)) <= 1.0


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_sample_formats_give_same_signal(tmp_path, subtype):
    x = tone_clip(0.5, sr=16000)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, 16000, subtype=subtype)
    y = load_audio(p)
    tol = 2e-2 if subtype == "PCM_U8" else 1e-3
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < tol


def test_stereo_is_averaged(tmp_path):
    x = tone_clip(0.5)
    sf.write(tmp_path / "s.wav", np.stack([x, 0 * x], 1), 16000)
    y = load_audio(tmp_path / "s.wav")
    assert y.ndim == 1 and np.allclose(y, x / 2, atol=1e-4)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 96000])
def test_resampled_to_16k(tmp_path, sr):
    sf.write(tmp_path / "r.wav", tone_clip(1.0, sr=sr, f0=200), sr)
    y = load_audio(tmp_path / "r.wav")
    assert abs(y.size - 16000) <= 2
    # the fundamental survives resampling: spectral peak near 200 Hz region, not aliased
    spec = np.abs(np.fft.rfft(y))
    assert np.argmax(spec) * 16000 / y.size < 2000


def test_native_rate_kept_when_asked(tmp_path):
    sf.write(tmp_path / "n.wav", tone_clip(0.5, sr=22050), 22050)
    x, sr = load_audio(tmp_path / "n.wav", AudioConfig(sample_rate=None), return_rate=True)
    assert sr == 22050 and x.size == 11025


def _expect(path, fragment):
    with pytest.raises(AudioError) as ei:
        load_audio(path)
    msg = str(ei.value)
    assert str(path) in msg and fragment in msg
    assert "\n" not in msg


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.wav", "file not found")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect(p, "unreadable audio")


def test_zero_sample_wav(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, np.float32), 16000)
    _expect(p, "empty audio")


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, tone_clip(0.01), 16000)
    _expect(p, "too short")


def test_non_audio_bytes(tmp_path):
    p = tmp_path / "fake.wav"
    p.write_bytes(b"this is not audio at all" * 50)
    _expect(p, "unreadable audio")


def test_truncated_header(tmp_path):
    good = tmp_path / "g.wav"
    sf.write(good, tone_clip(0.5), 16000)
    p = tmp_path / "trunc.wav"
    p.write_bytes(good.read_bytes()[:30])
    _expect(p, "unreadable audio")


def test_nan_samples_refused(tmp_path):
    x = tone_clip(0.5)
    x[100] = np.nan
    x[200] = np.inf
    p = tmp_path / "nan.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    _expect(p, "2 NaN/inf samples")


def test_silence_is_valid():
    x = prepare_signal(np.zeros(16000, np.float32), 16000)
    assert x.shape == (16000,) and not x.any()


def test_directory_refused(tmp_path):
    _expect(tmp_path, "is a directory")


def test_too_long_refused_from_header(tmp_path):
    p = tmp_path / "long.wav"
    sf.write(p, np.zeros(8000 * 20, np.int16), 8000)
    with pytest.raises(AudioError, match="too long"):
        load_audio(p, AudioConfig(max_duration_s=10))


@pytest.mark.slow
def test_one_hour_file(tmp_path):
    p = tmp_path / "hour.wav"
    with sf.SoundFile(p, "w", 8000, 1, "PCM_16") as fh:
        block = tone_clip(60.0, sr=8000) * 0.5
        for _ in range(60):
            fh.write(block)
    assert abs(audio_duration(p) - 3600) < 1e-6
    x = load_audio(p)
    assert x.shape == (3600 * 16000,)


def test_segment_reading(tmp_path, tone_writer):
    p = tone_writer(tmp_path / "seg.wav", seconds=2.0)
    full = load_audio(p)
    seg = load_audio(p, start=0.5, end=1.0)
    assert seg.shape == (8000,) and np.allclose(seg, full[8000:16000])


def test_int_arrays_scaled():
    x = (tone_clip(0.3) * 32767).astype(np.int16)
    y = prepare_signal(x, 16000)
    assert y.dtype == np.float32 and np.max(np.abs(y)) <= 1.0 and np.max(np.abs(y)) > 0.2


def test_header_probe_says_unreadable_like_the_reader(tmp_path):
    """The service maps ``AudioError.kind`` to HTTP codes: the header probe must use the same
    kind."""
    p = tmp_path / "x.wav"
    p.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError) as e:
        audio_duration(p)
    assert e.value.kind == "unreadable"
