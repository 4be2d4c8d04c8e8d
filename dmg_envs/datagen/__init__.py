"""Data generation: source demos (recording, demonstrators), segmentation, the generators (the D-MG DMP
expert, the MimicGen baseline) and generation runs that write Minari datasets."""

from dmg_envs.datagen.config import GenerationConfig
from dmg_envs.datagen.expert import DMPExpert
from dmg_envs.datagen.generate import generate
from dmg_envs.datagen.mimicgen import MimicGenPolicy
from dmg_envs.datagen.robomimic import export_robomimic, import_robomimic, read_robomimic
from dmg_envs.datagen.schedule import SubtaskSchedule
from dmg_envs.datagen.segmentation import Segment, SegmentationError, load_annotation, segment_demo
from dmg_envs.datagen.source import (
    EpisodeRecorder,
    SourceDemo,
    SourceDemoError,
    load_source_demos,
    record_episode,
    save_source_demos,
)

__all__ = [
    # source demos
    "SourceDemo", "SourceDemoError", "EpisodeRecorder", "record_episode", "save_source_demos", "load_source_demos",
    # segmentation
    "Segment", "SegmentationError", "segment_demo", "load_annotation",
    # generators and runs
    "DMPExpert", "MimicGenPolicy", "SubtaskSchedule", "GenerationConfig", "generate",
    # robomimic interop
    "export_robomimic", "import_robomimic", "read_robomimic",
]
