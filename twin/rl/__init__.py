"""Reinforcement learning on the twin: Gymnasium / PettingZoo environments over the event twin
(:mod:`twin.rl.env`), the vector twin and its batched environments (:mod:`twin.rl.vector`,
:mod:`twin.rl.vector_env`), and training runs.

Importing it registers the Gymnasium IDs ``twin/<scenario>-v0`` of the shipped RL scenarios
(:mod:`twin.rl.registration`). ``import twin.rl`` never imports torch; the trainers under
``agents/ppo`` and ``agents/happo`` load it when a run starts, the vector twin when it is made
with a torch ``device``.
"""

from twin.rl.registration import register_envs

register_envs()
