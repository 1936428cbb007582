"""Routing (ACD): queues, skills, rules, offers, transfers, SLA clocks, routing admin."""
