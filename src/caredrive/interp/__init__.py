"""Looking inside a mother: record every tap with the ground truth, probe, compare seeds (and, beside
them, lesion, patch and steer). Python API first; `caredrive interp RUN` is built on it."""

from caredrive.interp.cka import cka_blocks, cka_matrix, cka_report, linear_cka
from caredrive.interp.over_training import probes_over_training
from caredrive.interp.probes import ProbeConfig, probe
from caredrive.interp.record import (
    Recording,
    Sequences,
    flatten,
    fresh_policy,
    record,
    record_sequences,
    replay,
)
from caredrive.interp.seed_transfer import probe_transfer
from caredrive.interp.truth import TARGETS, episode_truth

__all__ = [
    "TARGETS", "ProbeConfig", "Recording", "Sequences", "cka_blocks", "cka_matrix", "cka_report", "episode_truth",
    "flatten", "fresh_policy", "linear_cka", "probe", "probe_transfer", "probes_over_training", "record",
    "record_sequences", "replay",
]

# the intervening half: ablations and overrides (edits), lesion sweeps, activation patching, steering
from caredrive.interp.edits import override, override_policy, parse_override  # noqa: E402
from caredrive.interp.lesions import THRESHOLDS, lesion_sweep  # noqa: E402
from caredrive.interp.patching import matched_pairs, patch_sweep  # noqa: E402
from caredrive.interp.steer import concept_vectors, retarget, transfer  # noqa: E402

__all__ += [
    "THRESHOLDS", "concept_vectors", "lesion_sweep", "matched_pairs", "override", "override_policy", "parse_override",
    "patch_sweep", "retarget", "transfer",
]
