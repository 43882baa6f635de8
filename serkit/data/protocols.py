"""Evaluation protocols as data: lists of speaker-independent folds.

``loso``            one fold per speaker.
``loso-session``    one fold per session (IEMOCAP, MSP-IMPROV).
``folds:NAME``      fixed speaker folds written down as data: ``serkit/data/splits/NAME.json``
                    (``ravdess5``: the five RAVDESS actor folds of ResLSTM-SA;
                    ``emobox-ravdess6``: EmoBox's six RAVDESS actor folds), or
                    ``folds:path/to/split.json`` in the same format (each file names its source).
``kfold-speaker:K`` K folds grouped by speaker, label-stratified (deterministic: the fold
                    assignment does not change with the training seed).
``loso:C``          one fold per speaker of corpus C, trained on everything else of the
                    manifest (other corpora included): within-corpus accuracy of a
                    multi-corpus model.
``loco``            leave one corpus out: one fold per corpus of a combined manifest, trained on
                    all the others. A corpus of fewer than ``MIN_LOCO_TEST_SPEAKERS`` known
                    speakers (TESS: 2, ESD's public part: 1) is training material only: it
                    trains in every fold and is never a test fold of its own.
``cross:A->B``      train on corpus A, test on corpus B (one fold; ``A+C`` trains on several,
                    ``B+D`` tests on several at once: the model is fitted once and scored per
                    test corpus).

Cross-corpus folds refuse a test set with labels the training set lacks (restrict the labels
with ``--labels``): a class the model cannot output is never silently scored.

Every fold is checked: a speaker present in both train and test is a :class:`ProtocolError`.
Validation speakers for model selection are carved out of the training fold only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from serkit.core.errors import ProtocolError
from serkit.data.manifest import Utterance

PROTOCOLS = (
    "loso",
    "loso-session",
    "folds:NAME",
    "kfold-speaker:K",
    "loso:C",
    "loco",
    "cross:A->B",
)
"""The protocol names :func:`make_folds` takes (``K`` an integer, ``NAME`` a bundled split or a
JSON file: :func:`fixed_split`)."""

SPLITS_DIR = Path(__file__).parent / "splits"


@dataclass(frozen=True)
class FixedSplit:
    """Speaker folds written down as data (``splits/NAME.json``): ``folds`` maps a fold name to
    its test speakers (manifest speaker ids); ``source`` says where the assignment comes from."""

    name: str
    corpus: str
    source: str
    folds: dict[str, tuple[str, ...]]
    description: str = ""
    note: str = ""


def bundled_splits() -> list[str]:
    """Names of the splits shipped with serkit (``folds:NAME``)."""
    return sorted(p.stem for p in SPLITS_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def fixed_split(name: str) -> FixedSplit:
    """The split ``name`` (bundled) or the JSON file at path ``name``.

    Format: ``{"name", "corpus", "source", "folds": {fold: [speaker, ...]}}`` (plus optional
    ``description``, ``note``). A speaker listed in two folds is refused.
    """
    p = SPLITS_DIR / f"{name}.json"
    if not p.exists():
        p = Path(name)
    if not p.is_file():
        raise ProtocolError(
            f"folds:{name}: no bundled split of that name ({', '.join(bundled_splits())}) "
            "and no such JSON file"
        )
    try:
        d = json.loads(p.read_text())
        folds = {str(k): tuple(str(s) for s in v) for k, v in d["folds"].items()}
        split = FixedSplit(
            name=str(d.get("name", p.stem)),
            corpus=str(d.get("corpus", "")),
            source=str(d["source"]),
            folds=folds,
            description=str(d.get("description", "")),
            note=str(d.get("note", "")),
        )
    except (OSError, json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
        raise ProtocolError(
            f"folds:{name}: {p} is not a split file ({type(exc).__name__}: {exc}); "
            "it needs 'source' and 'folds': {fold: [speaker, ...]}"
        ) from None
    seen: dict[str, str] = {}
    for f, spk in folds.items():
        for s in spk:
            if s in seen:
                raise ProtocolError(f"folds:{name}: speaker {s!r} is in folds {seen[s]} and {f}")
            seen[s] = f
    if len(folds) < 2:
        raise ProtocolError(f"folds:{name}: a split needs at least two folds")
    return split


@dataclass
class Fold:
    """Indices into the manifest. ``name`` identifies the held-out group(s)."""

    name: str
    train: list[int]
    test: list[int]


def _require_speakers(utts: list[Utterance], protocol: str) -> None:
    missing = sum(1 for u in utts if not u.speaker)
    if missing:
        raise ProtocolError(
            f"protocol {protocol!r} needs a speaker for every utterance; {missing} have none "
            "(give speakers in the manifest, e.g. the folder recipe's --speaker-regex)"
        )


def check_folds(utts: list[Utterance], folds: list[Fold]) -> None:
    """Refuse folds that share a speaker between train and test, or overlap in utterances."""
    for f in folds:
        if set(f.train) & set(f.test):
            raise ProtocolError(f"fold {f.name}: an utterance is in both train and test")
        tr = {utts[i].speaker for i in f.train}
        te = {utts[i].speaker for i in f.test}
        shared = sorted(s for s in tr & te if s)
        if shared:
            raise ProtocolError(
                f"fold {f.name}: speaker(s) {shared[:5]} in both train and test: "
                "this protocol/manifest pair is not speaker-independent"
            )
        if not f.test or not f.train:
            raise ProtocolError(f"fold {f.name}: empty train or test set")


def check_protocol(protocol: str) -> None:
    """Refuse a protocol name :func:`make_folds` does not know (before any data is read)."""
    if (
        protocol in PROTOCOLS[:2]
        or protocol == "loco"
        or (protocol.startswith("loso:") and protocol[5:])
    ):
        return
    if protocol.startswith("folds:") and protocol[6:]:
        fixed_split(protocol[6:])
        return
    if protocol.startswith("cross:") and "->" in protocol:
        a, _, b = protocol[6:].partition("->")
        if a and b and not set(a.split("+")) & set(b.split("+")):
            return
        raise ProtocolError(
            f"bad protocol {protocol!r}: use cross:TRAIN->TEST with different corpora "
            "(several joined by '+')"
        )
    if protocol.startswith("kfold-speaker:") and protocol.split(":", 1)[1].isdigit():
        return
    raise ProtocolError(
        f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)} (K an integer)"
    )


MIN_LOCO_TEST_SPEAKERS = 3
"""A corpus with fewer known speakers is never a ``loco`` test fold (one or two speakers say
little about unseen speech); a corpus with unknown speakers (no speaker id) counts as many.
Nor is a corpus with a single class after the label spec (BAVED's ``neutral`` level under the
four core classes): its UA would be the recall of one class, nor one whose labels come from a
rule (``label_rule``: ``baved-weak``). These kinds train in every fold."""


def single_class_corpora(corpora, labels) -> set:
    """The corpora (of parallel sequences ``corpora`` / ``labels``, one entry per clip) that
    hold a single class: training material only (never a ``loco`` test fold, never an inner
    validation part, standardised with all their manifest clips: BAVED's neutral level)."""
    classes: dict = {}
    for c, lab in zip(corpora, labels):
        classes.setdefault(c, set()).add(lab)
    return {c for c, labs in classes.items() if len(labs) < 2}


def training_only_corpora(utts) -> set:
    """The corpora of ``utts`` that only ever train: a single class after the label spec
    (:func:`single_class_corpora`) or labels derived by a rule (``Utterance.label_rule``)."""
    utts = list(utts)
    return single_class_corpora([u.corpus for u in utts], [u.label for u in utts]) | {
        u.corpus for u in utts if u.label_rule
    }


def _testable(utts: list[Utterance], corpus: str, single: set) -> bool:
    spk = {u.speaker for u in utts if u.corpus == corpus}
    return corpus not in single and (None in spk or len(spk) >= MIN_LOCO_TEST_SPEAKERS)


def _corpus_folds(utts: list[Utterance], protocol: str) -> list[Fold]:
    corpora = sorted({u.corpus for u in utts})
    if protocol == "loco":
        if len(corpora) < 2:
            raise ProtocolError(
                f"protocol 'loco' needs a manifest of at least two corpora, got {corpora}"
            )
        single = training_only_corpora(utts)
        tested = [c for c in corpora if _testable(utts, c, single)]
        if not tested:
            raise ProtocolError(
                f"protocol 'loco': no corpus has {MIN_LOCO_TEST_SPEAKERS}+ speakers, 2+ "
                f"classes and annotated labels to test on ({corpora})"
            )
        plan = [([c for c in corpora if c != t], [t]) for t in tested]
    else:
        a, _, b = protocol[6:].partition("->")
        plan = [(a.split("+"), b.split("+"))]
    folds = []
    for train_c, test_c in plan:
        missing = sorted(set(train_c + test_c) - set(corpora))
        if missing:
            raise ProtocolError(
                f"protocol {protocol!r}: corpus/corpora {missing} not in the manifest (it has "
                f"{corpora})"
            )
        tr = [i for i, u in enumerate(utts) if u.corpus in train_c]
        te = [i for i, u in enumerate(utts) if u.corpus in test_c]
        unseen = sorted({utts[i].label for i in te} - {utts[i].label for i in tr})
        if unseen:
            raise ProtocolError(
                f"protocol {protocol!r}: test corpus {'+'.join(test_c)} has label(s) {unseen} "
                "that the "
                f"training corpora {'+'.join(train_c)} lack; restrict with --labels"
            )
        folds.append(
            Fold(
                "+".join(test_c)
                if protocol == "loco"
                else f"{'+'.join(train_c)}_to_{'+'.join(test_c)}",
                tr,
                te,
            )
        )
    return folds


def make_folds(utts: list[Utterance], protocol: str) -> list[Fold]:
    """Build and check the folds of ``protocol`` over ``utts``. Clips whose labels come from a
    rule (``label_rule``) are never tested on (:class:`ProtocolError` if a fold would)."""
    folds = _make_folds(utts, protocol)
    for f in folds:
        ruled = [utts[i] for i in f.test if utts[i].label_rule]
        if ruled:
            raise ProtocolError(
                f"protocol {protocol!r}: fold {f.name!r} would test on labels derived by a rule "
                f"(corpus {ruled[0].corpus}: {ruled[0].label_rule}); such a corpus only trains: "
                "use protocol 'loco' with annotated corpora beside it"
            )
    return folds


def _make_folds(utts: list[Utterance], protocol: str) -> list[Fold]:
    if protocol.startswith("loso:"):
        _require_speakers(utts, protocol)
        c = protocol[5:]
        speakers = sorted({u.speaker for u in utts if u.corpus == c})
        if not speakers:
            raise ProtocolError(f"protocol {protocol!r}: no corpus {c!r} in the manifest")
        folds = [
            Fold(
                s,
                [i for i, u in enumerate(utts) if u.speaker != s],
                [i for i, u in enumerate(utts) if u.speaker == s],
            )
            for s in speakers
        ]
        check_folds(utts, folds)
        return folds
    if protocol == "loco" or protocol.startswith("cross:"):
        check_protocol(protocol)
        folds = _corpus_folds(utts, protocol)
        check_folds(utts, folds)
        return folds
    if protocol == "loso":
        _require_speakers(utts, protocol)
        groups = [u.speaker for u in utts]
    elif protocol == "loso-session":
        if any(not u.session for u in utts):
            raise ProtocolError(
                "protocol 'loso-session' needs a session for every utterance (IEMOCAP, MSP-IMPROV)"
            )
        groups = [u.session for u in utts]
    elif protocol.startswith("folds:"):
        _require_speakers(utts, protocol)
        split = fixed_split(protocol[6:])
        fold_of = {s: f for f, spk in split.folds.items() for s in spk}
        unassigned = sorted({u.speaker for u in utts} - set(fold_of))
        if unassigned:
            raise ProtocolError(
                f"{protocol}: speaker(s) {unassigned[:5]} of the manifest are in no fold of the "
                "split "
                f"(it is written for corpus {split.corpus!r}, speakers like "
                f"{next(iter(fold_of))!r}); "
                "restrict the manifest to that corpus"
            )
        groups = [fold_of[u.speaker] for u in utts]
    elif protocol.startswith("kfold-speaker:"):
        _require_speakers(utts, protocol)
        try:
            k = int(protocol.split(":", 1)[1])
        except ValueError:
            raise ProtocolError(
                f"bad protocol {protocol!r}: use kfold-speaker:K with an integer K"
            ) from None
        speakers = sorted({u.speaker for u in utts})
        if not 2 <= k <= len(speakers):
            raise ProtocolError(
                f"kfold-speaker:{k} needs 2 <= K <= number of speakers ({len(speakers)})"
            )
        from sklearn.model_selection import StratifiedGroupKFold

        y = [u.label for u in utts]
        g = [u.speaker for u in utts]
        sgk = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=0)
        groups = [""] * len(utts)
        for i, (_, te) in enumerate(sgk.split(np.zeros(len(utts)), y, g)):
            for j in te:
                groups[j] = f"fold{i + 1}"
    else:
        raise ProtocolError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    names = sorted(set(groups))
    folds = [
        Fold(
            n,
            [i for i, g in enumerate(groups) if g != n],
            [i for i, g in enumerate(groups) if g == n],
        )
        for n in names
    ]
    check_folds(utts, folds)
    return folds


def validation_split(
    utts: list[Utterance],
    train_idx: list[int],
    seed: int,
    fraction: float = 0.2,
    min_speakers: int = 1,
) -> tuple[list[int], list[int]]:
    """Split a training fold into (fit, validation) by speaker.

    ``round(fraction * n_speakers)`` (at least ``min_speakers``) training speakers, drawn with
    ``seed``, become validation speakers. With a single training speaker (or no speakers
    known) nothing is held out. Speakers with rule-derived labels (``label_rule``) are never
    drawn: validation scores and calibration rest on annotated labels only.
    """
    spk = sorted({utts[i].speaker for i in train_idx if utts[i].speaker and not utts[i].label_rule})
    if len(spk) < 2 or fraction <= 0:
        return list(train_idx), []
    n_val = min(len(spk) - 1, max(min_speakers, int(round(fraction * len(spk)))))
    rng = np.random.default_rng(seed)
    val_spk = set(rng.choice(spk, size=n_val, replace=False).tolist())
    fit = [i for i in train_idx if utts[i].speaker not in val_spk]
    val = [i for i in train_idx if utts[i].speaker in val_spk]
    return fit, val


def cap_per_corpus(utts: list[Utterance], idx: list[int], cap: int, seed: int) -> list[int]:
    """At most ``cap`` utterances of each corpus among ``idx`` (0 = no cap), drawn with ``seed``
    and stratified by label (each label keeps its share), so that a large corpus cannot
    dominate training. Order of ``idx`` is kept."""
    if cap <= 0:
        return list(idx)
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    by_corpus: dict[str, list[int]] = {}
    for i in idx:
        by_corpus.setdefault(utts[i].corpus, []).append(i)
    for _c, members in sorted(by_corpus.items()):
        if len(members) <= cap:
            keep.update(members)
            continue
        by_label: dict[str, list[int]] = {}
        for i in members:
            by_label.setdefault(str(utts[i].label), []).append(i)
        for _lab, m in sorted(by_label.items()):
            k = max(1, int(round(cap * len(m) / len(members))))
            keep.update(rng.choice(m, size=min(k, len(m)), replace=False).tolist())
    return [i for i in idx if i in keep]
