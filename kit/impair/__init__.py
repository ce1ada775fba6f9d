"""Link impairments: what the user asks for (spec), each engine's commands (engines),
applying, clearing and measuring them on hosts (apply), a run's shaping (shaping), and
the checks on the link (checks)."""
