"""Writing rendered frames to GIF (Pillow) or MP4 (imageio with ffmpeg, the `video` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmg_envs.errors import InvalidConfigError

VIDEO_SUFFIXES = (".gif", ".mp4")


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write RGB frames (height, width, 3) uint8 to `path`; the suffix picks the format.

    Raises:
        InvalidConfigError: unknown suffix, no frames, or MP4 without the `video` extra.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InvalidConfigError(f"video file {str(path)!r} must end in one of {', '.join(VIDEO_SUFFIXES)}")
    if len(frames) == 0:
        raise InvalidConfigError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return path
    try:
        import imageio.v2 as imageio
    except ImportError as error:
        raise InvalidConfigError('MP4 output needs the video extra: pip install "dmg-envs[video]"') from error
    imageio.mimwrite(path, [np.asarray(frame, dtype=np.uint8) for frame in frames], fps=fps)
    return path
