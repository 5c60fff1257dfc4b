"""What-if studies and tuning on the event twin: study definitions (:mod:`twin.studies.study`),
executors (process pool, in process, Ray), paired statistics, the study runner and the rule tuner.
"""
