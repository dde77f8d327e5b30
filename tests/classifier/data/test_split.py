import numpy as np
import pytest

from classifier.data.split import parse_fractions, patient_vectors, split_patients

# Stated tolerances for a cohort of 600 patients with 1-5 films each (about 1,800 films):
PATIENT_COUNT_TOLERANCE = 1.0  # patients with each label per split vs fraction x all of them
FILM_SHARE_TOLERANCE = 0.03  # each split's share of films vs the requested fraction
# Each region's abnormal share of a split's films vs the whole cohort's. Looser, because the split
# stratifies patients and patients have different numbers of films (40 seeds: at most 0.072).
PREVALENCE_TOLERANCE = 0.08


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.8,0.1,0.1", (0.8, 0.1, 0.1)), (" 0.7, 0.3 ,0", (0.7, 0.3, 0.0)), ("1,0,0", (1, 0, 0))],
)
def test_parse_fractions(text, expected):
    assert parse_fractions(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0.8,0.2", "0.5,0.3,0.3", "a,b,c", "0,0.5,0.5", "1.1,-0.1,0"])
def test_parse_fractions_refuses(text):
    with pytest.raises(ValueError):
        parse_fractions(text)


def test_patient_vectors():
    patients = ["b", "a", "b", "a"]
    labels = np.array([[1, 0], [0, 0], [0, 0], [0, 1]])
    ids, vectors = patient_vectors(patients, labels)
    assert ids == ["a", "b"]
    # per region: any film abnormal; last: any film fully normal
    np.testing.assert_array_equal(vectors, [[False, True, True], [True, False, True]])


def split_cohort(films_of_cohort, fractions=(0.8, 0.1, 0.1), seed=0):
    patients = [p for p, _, _ in films_of_cohort]
    labels = np.array([lab for _, _, lab in films_of_cohort])
    ids, vectors = patient_vectors(patients, labels)
    return patients, labels, split_patients(ids, vectors, fractions, seed)


@pytest.mark.parametrize("seed", [0, 7])
def test_cohort_split_is_by_patient_and_balanced(films, seed):
    cohort = films.cohort(600, seed=seed)
    patients, labels, split = split_cohort(cohort, seed=seed)
    ids, vectors = patient_vectors(patients, labels)
    patient_split = np.array([split[i] for i in ids])
    assert len(set(patients)) == 600 and len(cohort) >= 1500
    assert set(split) == set(patients)
    film_split = np.array([split[p] for p in patients])
    # No patient in two splits: every film of a patient carries the patient's one split.
    for patient in set(patients):
        assert len({s for p, s in zip(patients, film_split, strict=True) if p == patient}) == 1
    overall = labels.mean(axis=0)
    for name, fraction in zip(("train", "val", "test"), (0.8, 0.1, 0.1), strict=True):
        counts = vectors[patient_split == name].sum(axis=0)
        assert np.abs(counts - fraction * vectors.sum(axis=0)).max() <= PATIENT_COUNT_TOLERANCE
        in_split = film_split == name
        assert abs(in_split.mean() - fraction) <= FILM_SHARE_TOLERANCE, name
        prevalence = labels[in_split].mean(axis=0)
        assert np.abs(prevalence - overall).max() <= PREVALENCE_TOLERANCE, (name, prevalence)
        # every region with abnormal films overall has some in every split
        assert (labels[in_split].sum(axis=0) > 0).all(), name


def test_split_is_seeded_and_order_free(films):
    cohort = films.cohort(200, seed=1)
    _, _, first = split_cohort(cohort, seed=3)
    _, _, again = split_cohort(list(reversed(cohort)), seed=3)
    _, _, other = split_cohort(cohort, seed=4)
    assert first == again
    assert first != other


def test_zero_fraction_gets_no_patients(films):
    _, _, split = split_cohort(films.cohort(100), fractions=(0.9, 0.0, 0.1))
    assert set(split.values()) == {"train", "test"}
    _, _, everything = split_cohort(films.cohort(10), fractions=(1.0, 0.0, 0.0))
    assert set(everything.values()) == {"train"}


def test_no_patients():
    ids, vectors = patient_vectors([], np.zeros((0, 5)))
    assert split_patients(ids, vectors, (0.8, 0.1, 0.1), 0) == {}
