"""Evaluation of runs on held-out pairs: metrics (pure numbers from pair scores), the flow
(load, score, generate, write evaluation_results.json) and the reward-model judge."""
