"""Diffusion Policy (Chi et al., RSS 2023): a denoiser of action chunks conditioned on the last observations.

The denoiser is the paper's conditional 1-D temporal U-Net (convolutions over the chunk's time axis, the
observations and the diffusion step entering every residual block through FiLM), sized for a CPU by its
widths (`PolicyConfig.hidden_sizes`, default 64-128-256, about 4 M parameters, where the paper's 256-512-1024
has 65 M). Training is DDPM's (predict the noise added at a random step of 100); acting samples with DDIM
in 10 steps, from noise drawn from the policy's own seeded generator, so a rollout is reproducible. The
noise schedules are `diffusers`' (the `learn` extra).

Camera frames go through a small ResNet per camera (GroupNorm instead of BatchNorm, as the paper does, and
spatial-softmax keypoints), the low-dimensional observations in as they are (normalised).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dmg_envs.errors import InvalidConfigError
from dmg_envs.learning.models import PolicyConfig, camera_encoders, encode_cameras

GROUPS = 8  # GroupNorm groups: every U-Net width must be a multiple
KERNEL_SIZE = 5
STEP_EMBEDDING = 64


def _schedulers(config: PolicyConfig):
    from diffusers import DDIMScheduler, DDPMScheduler

    # squaredcos_cap_v2 (the cosine schedule) and clipping to [-1, 1], where the actions are normalised (the
    # policy fits the actions' range, not their spread): the paper's choices.
    common = {"num_train_timesteps": config.diffusion_steps, "beta_schedule": "squaredcos_cap_v2",
              "clip_sample": True, "prediction_type": "epsilon"}
    return DDPMScheduler(**common), DDIMScheduler(**common, set_alpha_to_one=True, steps_offset=0)


class _StepEmbedding(nn.Module):
    """The diffusion step as sinusoids (a transformer's position encoding), then an MLP."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.mlp = nn.Sequential(nn.Linear(size, 4 * size), nn.Mish(), nn.Linear(4 * size, size))

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        half = self.size // 2
        frequencies = torch.exp(torch.arange(half, device=steps.device) * (-math.log(10000.0) / (half - 1)))
        angles = steps.float()[:, None] * frequencies[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


def _conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(inputs, outputs, KERNEL_SIZE, padding=KERNEL_SIZE // 2),
                         nn.GroupNorm(GROUPS, outputs), nn.Mish())


class _ResidualBlock(nn.Module):
    """Two convolutions over time; between them the condition scales and shifts every channel (FiLM)."""

    def __init__(self, inputs: int, outputs: int, condition: int):
        super().__init__()
        self.first, self.second = _conv_block(inputs, outputs), _conv_block(outputs, outputs)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(condition, 2 * outputs))
        self.skip = nn.Conv1d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(condition)[..., None].chunk(2, dim=1)
        return self.second(scale * self.first(x) + shift) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """(N, T, A) noisy action chunks, (N,) diffusion steps and (N, C) conditions to (N, T, A) noise.

    Each level but the deepest halves the time axis, so T must be a multiple of 2**(levels - 1)."""

    def __init__(self, action_size: int, condition_size: int, widths: tuple[int, ...]):
        super().__init__()
        self.step_embedding = _StepEmbedding(STEP_EMBEDDING)
        condition = STEP_EMBEDDING + condition_size
        pairs = list(zip((action_size, *widths[:-1]), widths))
        self.down = nn.ModuleList(
            nn.ModuleList([_ResidualBlock(a, b, condition), _ResidualBlock(b, b, condition),
                           nn.Conv1d(b, b, 3, stride=2, padding=1) if level < len(pairs) - 1 else nn.Identity()])
            for level, (a, b) in enumerate(pairs))
        self.middle = nn.ModuleList([_ResidualBlock(widths[-1], widths[-1], condition) for _ in range(2)])
        self.up = nn.ModuleList(
            nn.ModuleList([_ResidualBlock(2 * b, a, condition), _ResidualBlock(a, a, condition),
                           nn.ConvTranspose1d(a, a, 4, stride=2, padding=1)])
            for a, b in reversed(pairs[1:]))
        self.final = nn.Sequential(_conv_block(widths[0], widths[0]), nn.Conv1d(widths[0], action_size, 1))

    def forward(self, actions: torch.Tensor, steps: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        condition = torch.cat([self.step_embedding(steps), condition], dim=-1)
        x, skips = actions.transpose(1, 2), []
        for first, second, downsample in self.down:
            x = second(first(x, condition), condition)
            skips.append(x)
            x = downsample(x)
        for block in self.middle:
            x = block(x, condition)
        for first, second, upsample in self.up:  # the finest level's features skip nothing (as in the paper)
            x = upsample(second(first(torch.cat([x, skips.pop()], dim=1), condition), condition))
        return self.final(x).transpose(1, 2)


class _BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.GroupNorm(GROUPS, outputs),
                                  nn.ReLU(), nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
                                  nn.GroupNorm(GROUPS, outputs))
        self.skip = (nn.Identity() if inputs == outputs and stride == 1 else
                     nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.GroupNorm(GROUPS, outputs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNetImageEncoder(nn.Module):
    """uint8 (N, H, W, 3) frames to (N, features): a stride-2 stem, three residual stages (32, 64, 128
    channels, the last two halving the frame) and spatial-softmax keypoints (the expected image position of
    each channel's activation, robomimic's and the paper's pooling), projected to `features`."""

    def __init__(self, features: int):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.GroupNorm(GROUPS, 32), nn.ReLU(),
                                   _BasicBlock(32, 32, 1), _BasicBlock(32, 64, 2), _BasicBlock(64, 128, 2))
        self.project = nn.Linear(2 * 128, features)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        maps = self.convs(frames.permute(0, 3, 1, 2).float() / 255.0)  # (N, C, h, w)
        n, c, h, w = maps.shape
        weights = torch.softmax(maps.reshape(n, c, h * w), dim=-1).reshape(n, c, h, w)
        ys, xs = torch.linspace(-1, 1, h, device=maps.device), torch.linspace(-1, 1, w, device=maps.device)
        keypoints = torch.stack([(weights.sum(dim=3) * ys).sum(dim=-1), (weights.sum(dim=2) * xs).sum(dim=-1)], -1)
        return self.project(keypoints.reshape(n, 2 * c))


class DiffusionNetwork(nn.Module):
    """Normalised observations (the last `obs_history` low-dimensional ones side by side, and the current
    camera frames) in; chunks of `action_chunk` normalised actions out, by denoising."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        levels = len(config.hidden_sizes)
        if config.gmm_modes:
            raise InvalidConfigError(f"a diffusion policy has no mixture head; gmm_modes must be 0, got "
                                     f"{config.gmm_modes}")
        if config.action_chunk % 2 ** (levels - 1):
            raise InvalidConfigError(f"the U-Net's {levels} levels halve the chunk {levels - 1} times: action_chunk "
                                     f"must be a multiple of {2 ** (levels - 1)}, got {config.action_chunk}")
        if any(width % GROUPS for width in config.hidden_sizes):
            raise InvalidConfigError(f"the U-Net's widths must be multiples of {GROUPS} (GroupNorm), got "
                                     f"{config.hidden_sizes}")
        if not 1 <= config.inference_steps <= config.diffusion_steps:
            raise InvalidConfigError(f"inference_steps must be in [1, diffusion_steps={config.diffusion_steps}], "
                                     f"got {config.inference_steps}")
        self.config = config
        self.encoders = camera_encoders(config, ResNetImageEncoder)
        self.denoiser = ConditionalUnet1D(config.action_size, config.input_size, tuple(config.hidden_sizes))
        self.training_schedule, self.sampling_schedule = _schedulers(config)

    def condition(self, low_dim: torch.Tensor, images: dict[str, torch.Tensor] | None) -> torch.Tensor:
        return torch.cat([low_dim] + encode_cameras(self.encoders, self.config, images), dim=-1)

    def loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """DDPM's loss: the squared error of the predicted noise, at a random step per chunk."""
        actions = batch["actions"].reshape(len(batch["actions"]), self.config.action_chunk, -1)
        noise = torch.randn(actions.shape, generator=generator).to(actions.device)
        steps = torch.randint(0, self.config.diffusion_steps, (len(actions),), generator=generator).to(actions.device)
        noisy = self.training_schedule.add_noise(actions, noise, steps)
        predicted = self.denoiser(noisy, steps, self.condition(batch["low_dim"], batch["images"]))
        return nn.functional.mse_loss(predicted, noise)

    @torch.no_grad()
    def act_chunk(self, low_dim: torch.Tensor, images: dict[str, torch.Tensor] | None, state=None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, None]:
        """(N, action_chunk, A) normalised actions, denoised by DDIM from noise drawn from `generator`."""
        condition = self.condition(low_dim, images)
        schedule = self.sampling_schedule
        schedule.set_timesteps(self.config.inference_steps)
        x = torch.randn((len(low_dim), self.config.action_chunk, self.config.action_size),
                        generator=generator).to(low_dim.device)
        for step in schedule.timesteps:
            noise = self.denoiser(x, step.expand(len(x)).to(x.device), condition)
            x = schedule.step(noise, step, x).prev_sample
        return x, None
