"""``sla-pipeline ingest``: the ingest gateway (contract v3 section 11). Ticket systems call webhooks; the
gateway checks each call the way its system signs or authenticates it, maps its payload to section 2
events with the source's mapping file, and answers 2xx only once Kafka has acknowledged every event.

* :mod:`.adapter` the one interface every source implements, and the helpers they share (event ids,
  ticket ids, errors);
* :mod:`.sources` one module per ticket system (zendesk, jira, freshdesk, zammad, glpi, rt);
* :mod:`.mapping` the per-source mapping files, checked at start-up like the policy;
* :mod:`.server` the HTTP service; :mod:`.sink` the Kafka producer (acks=all, idempotent) and the DLQ.
"""
