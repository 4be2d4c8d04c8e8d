"""Other libraries' entry points into our envs. Each submodule imports its library only where it is installed:
`lerobot` (`lerobot-eval --env.type=dmg --env.discover_packages_path=dmg_envs.integrations`)."""
