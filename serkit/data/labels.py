"""Label harmonisation: serkit's shared emotion vocabulary, the spellings it accepts, and label
specs (``--labels anger,happiness,neutral=neutral+calm,sadness``) that restrict and merge.

Every recipe writes labels from :data:`VOCABULARY` (its own module maps the corpus's codes; the
whole table is docs/LABELS.md). A label spec is a list of targets, each ``name`` (keep that
label) or ``name=a+b`` (the union of labels ``a`` and ``b``, renamed ``name``); utterances whose
label no target takes are left out. Decisions, with their reasons, are in docs/LABELS.md:

- ``calm`` (RAVDESS, EmoSpeech) is its own label; the 4-class harmonised set merges it into
  ``neutral`` (both are low-arousal, non-emotional readings, and EmoSpeech's ``calm`` is its
  no-particular-emotion class) only when the spec says ``neutral=neutral+calm``.
- ``boredom`` (EmoDB) stays ``boredom``: low arousal, negative valence; it is neither neutral
  nor sadness, so the 4-class set leaves it out.
- BAVED's arousal levels are ``low-arousal`` / ``neutral`` / ``high-arousal``: level 1 is
  "everyday speech" (= neutral); levels 0 and 2 mix several categories and map to none.
"""

from __future__ import annotations

from dataclasses import dataclass

from serkit.core.errors import ManifestError

VOCABULARY = {
    "anger": "angry, irritated (EmoDB W, RAVDESS 05, URDU A, EmoSpeech angry)",
    "happiness": "happy, joyful (EmoDB F, RAVDESS 03, URDU H, EmoSpeech happy)",
    "sadness": "sad (EmoDB T, RAVDESS 04, URDU S)",
    "neutral": "no particular emotion (EmoDB N, RAVDESS 01, URDU N, BAVED level 1)",
    "calm": "calm, relaxed: RAVDESS 02, EmoSpeech calm (merge into neutral with "
    "neutral=neutral+calm)",
    "fear": "fearful, anxious (EmoDB A, RAVDESS 06, EmoSpeech fearful)",
    "disgust": "disgust (EmoDB E, RAVDESS 07)",
    "surprise": "surprise (RAVDESS 08)",
    "boredom": "bored (EmoDB L)",
    "contempt": "contempt",
    "frustration": "frustrated (IEMOCAP)",
    "excitement": "excited (IEMOCAP; often merged into happiness)",
    "low-arousal": "BAVED level 0: tired, down",
    "high-arousal": "BAVED level 2: strong positive or negative emotion",
}
"""The shared labels (lower-case English) and where each comes from."""

ALIASES = {
    "angry": "anger",
    "ang": "anger",
    "happy": "happiness",
    "hap": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "neu": "neutral",
    "fearful": "fear",
    "fea": "fear",
    "disgusted": "disgust",
    "dis": "disgust",
    "surprised": "surprise",
    "sur": "surprise",
    "bored": "boredom",
    "exc": "excitement",
    "fru": "frustration",
}
"""Other spellings accepted in a manifest (CSV / folder recipes) and rewritten to the vocabulary."""

FOUR_CLASS = "anger,happiness,neutral=neutral+calm,sadness"
"""The harmonised 4-class set of the multi-corpus work (the classes EmoDB, URDU, RAVDESS and
EmoSpeech share, with calm read as neutral)."""


def canonical(label: str) -> str:
    """``label`` in the vocabulary's spelling (aliases rewritten; unknown labels unchanged)."""
    low = label.strip().lower()
    return ALIASES.get(low, low) if (low in ALIASES or low in VOCABULARY) else label


@dataclass(frozen=True)
class LabelSpec:
    """Targets in order: ``targets[name]`` = the source labels merged into ``name``."""

    targets: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, items: list[str] | str) -> LabelSpec:
        """``["anger", "neutral=neutral+calm"]`` or ``"anger,neutral=neutral+calm"``."""
        if isinstance(items, str):
            items = [s for s in items.split(",")]
        targets: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for item in (s.strip() for s in items):
            if not item:
                continue
            name, eq, srcs = item.partition("=")
            name = canonical(name)
            sources = tuple(canonical(s) for s in srcs.split("+") if s.strip()) if eq else (name,)
            if not sources:
                raise ManifestError(f"label spec {item!r}: nothing after '=' (use name=a+b)")
            if name in targets:
                raise ManifestError(f"label spec names {name!r} twice")
            for s in sources:
                if s in owner:
                    raise ManifestError(
                        f"label {s!r} is merged into both {owner[s]!r} and {name!r}"
                    )
                owner[s] = name
            targets[name] = sources
        if not targets:
            raise ManifestError("empty label spec")
        return cls(targets)

    @property
    def names(self) -> list[str]:
        return list(self.targets)

    def to_list(self) -> list[str]:
        return [n if src == (n,) else f"{n}={'+'.join(src)}" for n, src in self.targets.items()]

    def map(self, label: str) -> str | None:
        """The target that takes ``label`` (``None``: left out)."""
        for name, src in self.targets.items():
            if label in src:
                return name
        return None

    def restrict(self, names: list[str]) -> LabelSpec:
        """The same spec with only the targets in ``names``."""
        return LabelSpec({n: s for n, s in self.targets.items() if n in names})


def _map_dist(dist: dict[str, float], spec) -> dict[str, float] | None:
    """A label distribution in the vocabulary's spelling, merged / restricted by ``spec``
    (weights of merged labels add up; labels the spec drops are dropped)."""
    out: dict[str, float] = {}
    for k, v in dist.items():
        lab = canonical(k)
        if spec is not None:
            lab = spec.map(lab)
            if lab is None:
                continue
        out[lab] = out.get(lab, 0.0) + float(v)
    return out or None


def harmonise(
    utts: list,
    spec: LabelSpec | list[str] | str | None,
    strict: bool | None = None,
    require_all: bool = True,
) -> list:
    """Utterances with labels in the vocabulary's spelling, restricted and merged by ``spec``.

    With a spec (or ``strict``), a label that is neither in :data:`VOCABULARY` nor named by the
    spec is an error naming the label and its corpus: a label that does not map is never
    silently dropped. Unlabelled utterances are left out. ``require_all``: a target of the spec
    that no utterance takes is an error. Returns new Utterance objects.
    """
    from dataclasses import replace

    if spec is not None and not isinstance(spec, LabelSpec):
        spec = LabelSpec.parse(spec) if spec else None
    strict = spec is not None if strict is None else strict
    named = {s for src in spec.targets.values() for s in src} if spec else set()
    out = []
    for u in utts:
        if u.label is None:
            continue
        lab = canonical(u.label)
        if strict and lab not in VOCABULARY and lab not in named:
            raise ManifestError(
                f"label {u.label!r} of corpus {u.corpus or '(unnamed)'!r} (utterance {u.id}) is "
                "not in "
                "serkit's vocabulary (docs/LABELS.md): map it explicitly, e.g. --labels "
                f"happiness=happiness+{u.label}, or fix the recipe"
            )
        if spec is not None:
            lab = spec.map(lab)
            if lab is None:
                continue
        dist = _map_dist(u.label_dist, spec) if getattr(u, "label_dist", None) else None
        if lab != u.label or dist != getattr(u, "label_dist", None):
            u = replace(u, label=lab, label_dist=dist)
        out.append(u)
    if spec is not None and require_all:
        missing = [n for n in spec.names if not any(u.label == n for u in out)]
        if missing:
            raise ManifestError(
                f"label(s) {missing} of the label spec occur nowhere in the data "
                f"(corpora: {sorted({u.corpus for u in utts})})"
            )
    return out
