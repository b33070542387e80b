"""Evidence-aware stage-2 weights for photo queries: trust each signal as much as it is reliable for this photo.

A profile's stage-2 weights are fixed; a photo's signals are not equally trustworthy every time. Two
readings of the photo say how much each kind can be trusted:

- **text evidence**: how completely some candidate's title and author words were read on the cover
  (the best ``ocr_title_match`` among the candidates, and how far it stands above the runner-up).
  A cover whose title and author were read whole names its book; a few stray words name nothing.
- **image evidence**: how cleanly the cover was found (``PhotoReading.region_confidence``; 0 when
  the whole photo was used) and how decisively the best cover stands out from the other candidates
  (a frame-filling photo of a cover matches its catalog cover far better than any other cover, even
  when no outline was found: the whole photo *is* the cover).

- **keypoint evidence**: whether some candidate's cover was verified point for point at the photo's centre
  (``cover_keypoints``, ``multimodal.keypoints``): then the photographed cover is that book's, whatever the
  words read around it say.

``photo_weights`` scales the profile's image weights by the image evidence and raises the text
weights with the text evidence, so a decisive text match is not outvoted by a noisy image vector,
and a clean frame-filling photo with no legible text still wins on the picture. A verified cover makes
the picture decisive: the text weights are not raised over it.

``identifies`` says whether the photo identifies its first hit, or is probably of a book the catalog
does not hold: the first hit's cover verified as the photographed one, or its title and author read on
the cover (or most of them, better than any other work's; in both cases most of its *title*, and not a
short title lost among many words read: ``cover_reading``), or its cover being the one the photo looks
most like, with some words, decisively, or as a near-duplicate — never when the photographed cover was
verified to be another work's, or the first hit's own cover was found lying beside it (its words were
read off a neighbour). These hand-written rules are the verdict of a profile with no fitted verdict
(``multimodal.verdict``: the offline profile's is fitted on the same evidence; clip has no real weights here to fit
it on); what the covers found in the photo settle alone (``settled_by_the_covers_found``) both verdicts share.
The verdict is the photo's one notion of "confident": the result's verdict is "found" exactly when it holds
(``multimodal.confidence``).

A catalog may file one work twice (genre-covers files a title under several genres, often with the same
cover): such twins match a photo equally, so "how far the best stands out" is measured against the best
candidate of *another work* (``work_of``: the title and author, folded), never against a twin.

The identification thresholds were chosen on simulated photos of the tuning split (seed 2, all three
catalogs) by replaying the evaluation's reports (``benchmarks/tune_photo_evidence.py``), and are reported
on the held-out split (seed 1) in docs/evaluation.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from multimodal.lexicon import MIN_FUZZY_LENGTH, aligned_words, coverage, lengths, title_variants, words

IMAGE_SIGNALS = ("image_vs_cover", "perceptual", "image_vs_text")
FEATURES_SIGNAL = "cover_features"  # the book's share of the photo's features, relative to the best book's
KEYPOINT_SIGNAL = "cover_keypoints"  # in [-1, 1]: the cover verified at the photo's centre (> 0), or beside it (< 0)
TEXT_SIGNALS = ("ocr_title_match", "ocr_vs_text", "ocr_fulltext")


@dataclass(frozen=True)
class EvidenceTuning:
    text_floor: float = 0.5  # a best title/author match below this is no evidence
    text_gain: float = 4.0  # the text weights are multiplied by up to 1 + text_gain
    margin_scale: float = 0.15  # a best match this far above the runner-up is fully distinct
    image_floor: float = 0.25  # the least share of their weight the image signals keep
    decisive_gap: float = 4.0  # the best cover's z-score gap over the runner-up that makes the picture decisive
    # ... in spreads of the other works' this many most similar covers: the candidates that channels bring for their
    # words or cover features are no nearer the photo, yet they widened the spread of all of them (session 6).
    decisive_spread_of: int = 20
    identified_text: float = 0.8  # a first hit whose title/author match reaches this is identified
    identified_lead_text: float = 0.7  # ... or reaches this and leads every other candidate by identified_lead
    identified_lead: float = 0.2
    agreeing_text: float = 0.3  # ... or is also the best cover match and reaches this
    agreeing_letters: float = 5.0  # ... with at least this many letters of its title and author read ("THE" is none)
    identified_image: float = 0.5  # ... or is the best cover match by this decisiveness
    pictured_similarity: float = 0.97  # ... or is the best cover match with at least this similarity
    # The words alone identify a book only when this share of its *title* was read: an author's name read whole
    # names none of their books (the catalog may hold another book by them, the photo be of one it lacks), and one
    # word read that lies inside a longer title ("THE MAGIC" in "The Colour of Magic") is not that title read.
    # Chosen on the tuning split (0.0 before session 6; docs/evaluation.md, "The verdict's words").
    title_read: float = 0.6
    # A candidate whose cover_keypoints reaches this is the photographed cover (about 35 inliers at the centre, or 12
    # or more with the photo agreeing with its picture: ``keypoints.CoverMatch.photographed``),
    # when no other work's cover comes within keypoint_lead of it. Chosen on simulated scenes (docs/evaluation.md).
    verified_keypoints: float = 0.5
    keypoint_lead: float = 0.3
    # A first hit whose cover_keypoints is at most -beside_keypoints lies beside the photographed cover: its words,
    # if read, were read off a neighbour (about 25 inliers, a fifth of the frame away from the centre).
    beside_keypoints: float = 0.25
    # The picture-only rules (pictured and decisive, or near-duplicate) need the first hit's cover found in the photo
    # point for point (cover_keypoints above this) when it was matched: a cover that only *looks* most like the
    # photo's (colours, layout) while none of its features are there is a lookalike. Chosen on the tuning split.
    pictured_keypoints: float = 0.0
    # A title of a few letters is found by chance among many words read ("Poems" in "SELECTED POEMS OF THOMAS HARDY
    # WITH PORTRAIT ..."; "It" in "FIVE CHILDREN AND IT"): the words identify a book only when at least
    # distinct_letters of its title and author were read, or they are at least explained_share of the words read.
    # Chosen on the tuning split (docs/evaluation.md, "The verdict's words").
    distinct_letters: float = 10.0
    explained_share: float = 0.5
    # ... or its cover is the best cover match, found in the photo (``pictured_keypoints``), and has the most of the
    # photo's features by this lead (``cover_features``, relative to the best book) over every other work's.
    # Chosen on the tuning split (seed 2, 150 photos a task): docs/evaluation.md.
    pictured_votes: float = 0.5
    # The words do not identify a book whose cover was looked for in the photo point for point and not found there
    # (``cover_keypoints`` at most 0) and whose picture is unlike the photo's (``image_vs_cover`` below this): the
    # photo is of another book that names it ("THREE NOVELS Oliver Twist …", "by the author of CARRIE and THE
    # SHINING"). Chosen on the tuning split and a fourth sample (seeds 2 and 4): the largest value that cost no right
    # first hit its "found" (docs/evaluation.md, session 9).
    unlike_image: float = 0.2
    # A short title read whole among many words (``distinct_letters``, ``explained_share``) still names its book when
    # its cover was found in the photo point for point, short of verified (``cover_keypoints`` at least this: the
    # level at which ``keypoints.OVERLAPPING_LEVEL`` calls a cover found in the photo). Genre-covers files no author,
    # so "CHARLOTTE BRONTE Shirley" holds seven letters of its label. Session 11 (docs/evaluation.md).
    confirming_keypoints: float = 0.3
    # The picture alone (and a picture agreeing with a few words) identifies no book when the words read are a
    # legible text (at least this many letters in words of four letters or more) that holds less than ``title_read``
    # of its title, and its cover was not found in the photo point for point: the photo is of a book whose cover
    # looks like it ("teTwO Towers" for *The Return of the King*, "THE GRAPES OF WRATH" for *The Wings of the Dove*).
    # Session 11 (docs/evaluation.md).
    contradicting_letters: float = 10.0


TUNING = EvidenceTuning()


@dataclass(frozen=True)
class PhotoEvidence:
    text: float  # in [0, 1]: how completely and distinctly a book's title and author were read
    image: float  # in [0, 1]: how far the image signals can be trusted (cover found, or a decisive match)
    decisive_image: float  # in [0, 1]: how far the best cover stands out (the match, not the localisation)
    best_image_book: str = ""  # the candidate whose cover matches best
    text_matches: tuple[tuple[str, float], ...] = ()  # every (book id, ocr_title_match), best first
    works: Mapping[str, str] = field(default_factory=dict)  # book id → its work (``work_of``); twins share one
    verified_book: str = ""  # the candidate whose cover was verified as the photographed one ("" when none)
    feature_votes: tuple[tuple[str, float], ...] = ()  # every (book id, cover_features), best first
    keypoint_matches: tuple[tuple[str, float], ...] = ()  # every (book id, cover_keypoints) matched, best first
    image_matches: tuple[tuple[str, float], ...] = ()  # every (book id, image_vs_cover), best first
    region_confidence: float = 0.0  # how cleanly the cover was found in the photo (0: the whole photo was used)

    def work(self, book_id: str) -> str:
        return self.works.get(book_id, book_id)

    def text_lead(self, book_id: str, value: float) -> float:
        """How far a candidate's title/author match leads the best candidate of another work."""
        return self._lead(self.text_matches, book_id, value)

    def votes_lead(self, book_id: str, value: float) -> float:
        """How far a candidate's share of the photo's features (``cover_features``) leads another work's best."""
        return self._lead(self.feature_votes, book_id, value)

    def keypoints_lead(self, book_id: str, value: float) -> float:
        """How far a candidate's cover_keypoints leads another work's best (-1 when none was matched)."""
        return value - max(self._others(self.keypoint_matches, book_id), default=-1.0)

    def image_lead(self, book_id: str, value: float) -> float:
        """How far a candidate's image_vs_cover leads another work's best (-1 when none has one)."""
        return value - max(self._others(self.image_matches, book_id), default=-1.0)

    def verified_over(self, book_id: str, value: float, level: float) -> bool:
        """Whether another work's cover reached the verified ``level`` at the photo's centre, above ``value``."""
        return any(
            self.work(other) != self.work(book_id) and match >= level and match > value
            for other, match in self.keypoint_matches
        )

    def _others(self, ordered: tuple[tuple[str, float], ...], book_id: str) -> list[float]:
        return [match for other, match in ordered if self.work(other) != self.work(book_id)]

    def _lead(self, ordered: tuple[tuple[str, float], ...], book_id: str, value: float) -> float:
        others = self._others(ordered, book_id)
        return value - (others[0] if others else 0.0)

    @property
    def verified(self) -> bool:
        return bool(self.verified_book)

    def verified_as(self, book_id: str) -> bool:
        """Whether the photographed cover was verified to be this book's (or a twin's)."""
        return self.verified and self.work(self.verified_book) == self.work(book_id)

    def pictured(self, book_id: str) -> bool:
        """Whether the cover that matches the photo best is this book's (or a twin's: the same work)."""
        return bool(self.best_image_book) and self.work(self.best_image_book) == self.work(book_id)


def work_of(title: str, author: str) -> str:
    """A work's key: its title and author, folded (the same book filed twice has one)."""
    return " ".join(words(title)) + " / " + " ".join(words(author))


def best_and_other_work(values: Mapping[str, float], works: Mapping[str, str]) -> tuple[str, float, float]:
    """The best candidate, its value, and the best value among candidates of another work (0 when none)."""
    if not values:
        return "", 0.0, 0.0
    best = max(values, key=values.__getitem__)
    others = [value for book_id, value in values.items() if works.get(book_id, book_id) != works.get(best, best)]
    return best, values[best], max(others, default=0.0)


def text_evidence(
    candidates: Mapping[str, Mapping[str, float]], works: Mapping[str, str], tuning: EvidenceTuning = TUNING
) -> float:
    matches = {book_id: signals.get("ocr_title_match", 0.0) for book_id, signals in candidates.items()}
    _, best, runner_up = best_and_other_work(matches, works)
    completeness = np.clip((best - tuning.text_floor) / (1 - tuning.text_floor), 0, 1)
    distinct = np.clip((best - runner_up) / tuning.margin_scale, 0, 1)
    return float(completeness * (0.5 + 0.5 * distinct))


def image_decisiveness(
    candidates: Mapping[str, Mapping[str, float]], works: Mapping[str, str], tuning: EvidenceTuning = TUNING
) -> float:
    """How far the best cover similarity stands above another work's best, in spreads of the others nearest the photo
    (``decisive_spread_of``), in [0, 1]."""
    covers = {
        book_id: signals["image_vs_cover"] for book_id, signals in candidates.items() if "image_vs_cover" in signals
    }
    if len(covers) < 3:
        return 0.0
    best_id, best, runner_up = best_and_other_work(covers, works)
    work = works.get(best_id, best_id)  # the spread of the other works' covers: the best one is the outlier
    others = np.array([value for book_id, value in covers.items() if works.get(book_id, book_id) != work])
    others = np.sort(others)[::-1][: tuning.decisive_spread_of]
    if len(others) < 2:
        return 0.0
    gap = (best - runner_up) / max(float(others.std()), 1e-3)
    return float(np.clip(gap / tuning.decisive_gap, 0, 1))


def verified_cover(
    candidates: Mapping[str, Mapping[str, float]], works: Mapping[str, str], tuning: EvidenceTuning = TUNING
) -> str:
    """The candidate whose cover was verified at the photo's centre, well ahead of every other work's ("" if none)."""
    matches = {book_id: values[KEYPOINT_SIGNAL] for book_id, values in candidates.items() if KEYPOINT_SIGNAL in values}
    best_id, best, runner_up = best_and_other_work(matches, works)
    verified = best >= tuning.verified_keypoints and best - max(runner_up, 0.0) >= tuning.keypoint_lead
    return best_id if verified else ""


def photo_evidence(
    candidates: Mapping[str, Mapping[str, float]],
    region_confidence: float,
    tuning: EvidenceTuning = TUNING,
    works: Mapping[str, str] | None = None,
) -> PhotoEvidence:
    """The evidence of a photo query, from its stage-2 candidates (book id → signals) and their works."""
    works = works or {}
    decisive = image_decisiveness(candidates, works, tuning)
    by_image = {book_id: values.get("image_vs_cover", -1.0) for book_id, values in candidates.items()}
    by_text = sorted(((values.get("ocr_title_match", 0.0), book_id) for book_id, values in candidates.items()))
    by_image_found = sorted(
        (values["image_vs_cover"], book_id) for book_id, values in candidates.items() if "image_vs_cover" in values
    )
    by_votes = sorted(((values.get(FEATURES_SIGNAL, 0.0), book_id) for book_id, values in candidates.items()))
    by_keypoints = sorted(
        (values[KEYPOINT_SIGNAL], book_id) for book_id, values in candidates.items() if KEYPOINT_SIGNAL in values
    )
    return PhotoEvidence(
        text=text_evidence(candidates, works, tuning),
        image=max(region_confidence, decisive),
        decisive_image=decisive,
        best_image_book=best_and_other_work(by_image, works)[0],
        text_matches=tuple((book_id, value) for value, book_id in reversed(by_text)),
        works=dict(works),
        verified_book=verified_cover(candidates, works, tuning),
        feature_votes=tuple((book_id, value) for value, book_id in reversed(by_votes)),
        keypoint_matches=tuple((book_id, value) for value, book_id in reversed(by_keypoints)),
        image_matches=tuple((book_id, value) for value, book_id in reversed(by_image_found)),
        region_confidence=region_confidence,
    )


def photo_weights(
    weights: Mapping[str, float], evidence: PhotoEvidence, tuning: EvidenceTuning = TUNING
) -> dict[str, float]:
    """The profile's stage-2 weights, scaled for this photo's evidence."""
    verified = 1.0 if evidence.verified else 0.0
    image_share = tuning.image_floor + (1 - tuning.image_floor) * max(evidence.image, verified)
    # A decisive picture (a near-duplicate of one cover, or a cover verified at the photo's centre) is not outvoted
    # by words either: an OCR line that happens to match another book's title ("Agatha Christie" vs "Christine"),
    # or a neighbour's title read whole, gains nothing over it.
    text_share = 1 + tuning.text_gain * evidence.text * (1 - max(evidence.decisive_image, verified))
    scaled = {}
    for name, weight in weights.items():
        if name in IMAGE_SIGNALS:
            scaled[name] = weight * image_share
        elif name in TEXT_SIGNALS:
            scaled[name] = weight * text_share
        else:
            scaled[name] = weight
    return scaled


@dataclass(frozen=True)
class CoverReading:
    """What the words read on a photo's cover say of one book (``cover_reading``); the default restricts nothing."""

    title_share: float = 1.0  # the share of its title's words (by length) read, its main title read whole counting
    label_letters: float = math.inf  # the letters of its title and author read (a misspelt word for its similarity)
    explained: float = 1.0  # the share of the words read (by length) that are its title and author
    legible_letters: float = 0.0  # the letters read in words of ``MIN_FUZZY_LENGTH`` or more (any book's)


def cover_reading(cover_text: str, title: str, author: str = "") -> CoverReading:
    """How much of a book's title and author was read on the cover, a misspelling counted as ``lexicon`` does, and
    how much of what was read they are; its main title alone is read too (``title_variants``), the best counts."""
    read = words(cover_text)
    legible = float(sum(len(word) for word in read if len(word) >= MIN_FUZZY_LENGTH))
    readings = [CoverReading(0.0, 0.0, 0.0, legible)]
    for variant in title_variants(title):
        title_words, label = words(variant), words(f"{variant} {author}")
        if read and title_words:
            read_found, label_found = aligned_words(read, label)
            readings.append(
                CoverReading(
                    title_share=coverage(title_words, label_found[: len(title_words)]),
                    label_letters=float(np.dot(lengths(label), label_found)),
                    explained=coverage(read, read_found),
                    legible_letters=legible,
                )
            )
    return max(readings, key=lambda reading: (reading.title_share, reading.label_letters))


def settled_by_the_covers_found(
    first_id: str, first: Mapping[str, float], evidence: PhotoEvidence, tuning: EvidenceTuning = TUNING
) -> bool | None:
    """What the covers found in the photo point for point settle alone, whatever was read (None: nothing).

    A cover verified as the photographed one (``verified_keypoints``, ahead of every other work's by
    ``keypoint_lead``) settles it: the photo identifies its first hit exactly when that cover is the first hit's. It
    does not identify a first hit whose own cover was found beside the photographed one (``beside_keypoints``: its
    words, if read, were read off a neighbour), nor one under another work's cover verified at the centre, if not by
    a lead, better than its own.
    """
    if evidence.verified:
        return evidence.verified_as(first_id)
    keypoints = first.get(KEYPOINT_SIGNAL)  # None: not matched (no readable cover, or not among those scored)
    if keypoints is not None and keypoints <= -tuning.beside_keypoints:
        return False
    if evidence.verified_over(first_id, -1.0 if keypoints is None else keypoints, tuning.verified_keypoints):
        return False  # another work's cover was verified at the centre (if not by a lead), better than this one
    return None


def identifies(
    first_id: str,
    first: Mapping[str, float],
    evidence: PhotoEvidence,
    tuning: EvidenceTuning = TUNING,
    reading: CoverReading = CoverReading(),
) -> bool:
    """Whether the photo identifies its first hit (else: probably a book the catalog does not hold).

    Never when the photographed cover was verified to be another work's (``verified_keypoints``; or another work's
    cover reached that level above the first hit's, though not by ``keypoint_lead``: it lies at the centre, the
    first hit's under or beside it), or the first hit's own cover was found beside it (``beside_keypoints``). Else:
    its cover was verified as the photographed one; or its title and author were read (``identified_text``), or
    mostly read and better than any other work's (``identified_lead_text`` with a lead of ``identified_lead``) —
    either with at least ``tuning.title_read`` of its title among the words, its title and author not a few letters
    lost among many words read (``distinct_letters``, ``explained_share``; ``reading``: ``cover_reading``) unless its
    cover was found in the photo (``confirming_keypoints``), and its cover not looked for point for point in vain
    while its picture is unlike the photo's (``unlike_image``) — or its cover is also the one the photo's cover looks
    most like, with some of its words read (``agreeing_text``, and ``agreeing_letters`` of its title and author), or —
    when its cover was found in the photo point for point (``pictured_keypoints``), or could not be matched — the
    picture decisive, or the two covers near-duplicates (``pictured_similarity``), or its cover the one most of the
    photo's features are found on, by a lead over every other work's (``pictured_votes``). The picture counts for
    nothing when the words read are a legible text that is not its title and its cover was not found point for point
    (``contradicting_letters``).
    """
    settled = settled_by_the_covers_found(first_id, first, evidence, tuning)
    if settled is not None:
        return settled
    keypoints = first.get(KEYPOINT_SIGNAL)  # None: not matched (no readable cover, or not among those scored)
    read = first.get("ocr_title_match", 0.0)
    lead = evidence.text_lead(first_id, read)
    pictured = evidence.pictured(first_id)
    unseen = keypoints is not None and keypoints <= 0 and first.get("image_vs_cover", 0.0) < tuning.unlike_image
    confirmed = keypoints is not None and keypoints >= tuning.confirming_keypoints
    titled = (
        not unseen
        and reading.title_share >= tuning.title_read
        and (
            reading.label_letters >= tuning.distinct_letters or reading.explained >= tuning.explained_share or confirmed
        )
    )
    found_in_photo = keypoints is None or keypoints > tuning.pictured_keypoints
    contradicted = (
        not (keypoints is not None and keypoints > tuning.pictured_keypoints)  # its cover's features not in the photo
        and reading.legible_letters >= tuning.contradicting_letters
        and reading.title_share < tuning.title_read
    )
    pictured = pictured and not contradicted
    votes = evidence.votes_lead(first_id, first.get(FEATURES_SIGNAL, 0.0))
    return (
        (titled and read >= tuning.identified_text)
        or (titled and read >= tuning.identified_lead_text and lead >= tuning.identified_lead)
        or (pictured and read >= tuning.agreeing_text and reading.label_letters >= tuning.agreeing_letters)
        or (pictured and found_in_photo and evidence.decisive_image >= tuning.identified_image)
        or (pictured and found_in_photo and first.get("image_vs_cover", 0.0) >= tuning.pictured_similarity)
        or (pictured and found_in_photo and votes >= tuning.pictured_votes)
    )
