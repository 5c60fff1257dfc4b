"""PPO: the actor-critic network, the inference agent (``ppo``), checkpoints, vectorised twins
and the shared-policy trainer. torch is imported here only; ``import twin`` never loads it."""
