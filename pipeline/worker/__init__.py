"""The worker: the one app factory (:mod:`pipeline.worker.app`) and its web pages (:mod:`pipeline.worker.web`)."""
