"""Data generation: source demos (recording, demonstrators), segmentation, generators, dataset writers."""

from dmg_envs.datagen.segmentation import Segment, SegmentationError, load_annotation, segment_demo
from dmg_envs.datagen.source import SourceDemo, SourceDemoError, load_source_demos, record_episode, save_source_demos

__all__ = [
    # source demos
    "SourceDemo", "SourceDemoError", "record_episode", "save_source_demos", "load_source_demos",
    # segmentation
    "Segment", "SegmentationError", "segment_demo", "load_annotation",
]
