"""Policies from our datasets and how they are measured: behaviour cloning (`train`, `policy`, torch),
stable-baselines3 helpers (`sb3`), the evaluation protocol (`evaluate`) and the leaderboard
(`leaderboard`). The last two need no torch, so any policy can be evaluated and ranked.

Import the submodules directly; importing this package loads nothing heavy.
"""
