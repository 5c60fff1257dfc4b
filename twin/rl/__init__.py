"""Reinforcement learning on the twin: Gymnasium / PettingZoo environments and training runs.

``import twin.rl`` never imports torch; the trainers under ``agents/ppo`` and ``agents/happo`` load
it when a run starts.
"""
