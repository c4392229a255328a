"""`seen in training`: a battery world the training distribution can produce is marked and kept out of the
headline; every other goal/capability world stays held out."""

from __future__ import annotations

from caredrive.env.registry import make
from caredrive.eval.battery import build_battery, headline, seen_in_training
from caredrive.train.config import Variation


def _seen(world, vary=()):
    bat = build_battery(world, world.default_params)
    return dict(zip((w.name for w in bat.worlds), seen_in_training(bat, world.default_params, world.config.grid_size, vary),
                    strict=True))


def test_one_world_training_sees_only_itself():
    seen = _seen(make("Nursery-11x11"))
    assert seen.pop("train") is True and seen.pop("labelled") is True  # babies are labelled in this world
    assert not any(seen.values())


def test_a_distribution_over_birth_places_covers_born_far_and_nothing_else():
    seen = _seen(make("Nursery-11x11"), (Variation("birth_far", (False, True)),))
    assert seen["born_far"] is True
    assert seen["decoy"] is False  # born far AND a look-alike beside her: the look-alike was never drawn
    assert sum(seen.values()) == 3  # train, labelled, born_far


def test_a_value_outside_the_distribution_stays_held_out():
    seen = _seen(make("Nursery-11x11"), (Variation("n_predators", (0, 1)),))
    assert seen["predators_x2"] is False  # two predators were never drawn
    seen = _seen(make("Nursery-11x11"), (Variation("n_predators", (1, 2)),))
    assert seen["predators_x2"] is True


def test_unlabelled_training_sees_the_unlabelled_world_and_holds_out_labelled():
    seen = _seen(make("Nursery-Unlabeled-NoCarry-11x11"), (Variation("birth_far", (False, True)),))
    assert seen["unlabelled"] is True and seen["labelled"] is False and seen["born_far"] is True
    unseen = [n for n, s in seen.items() if not s and n not in ("no_help",)]
    assert len(unseen) >= 12  # the floor of held-out goal/capability worlds


def test_the_headline_counts_unseen_worlds_only():
    summary = {"train": {"kind": "train", "seen_in_training": True, "care_score_mean": 0.9},
               "born_far": {"kind": "capability", "seen_in_training": True, "care_score_mean": 0.9},
               "decoy": {"kind": "goal", "seen_in_training": False, "care_score_mean": 0.1},
               "rooms": {"kind": "capability", "seen_in_training": False, "care_score_mean": 0.7},
               "mirror": {"kind": "goal", "seen_in_training": False, "care_score_mean": None},
               "no_help": {"kind": "control", "seen_in_training": False, "care_score_mean": None}}
    h = headline(summary)
    assert (h["unseen"], h["scored"], h["passing"], h["failing"]) == (3, 2, ["rooms"], ["decoy"])
    assert abs(h["mean"] - 0.4) < 1e-9
