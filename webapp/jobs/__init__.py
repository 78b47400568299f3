"""Actionservice: queues, the scheduler tick, and (later) the job registry and run wrapper."""
