"""MuJoCo plumbing shared by every task: scene assembly, arm index tables, the IK controller, pose math."""
