"""The discovery pipeline's stages, each an object that can be built and tested alone.

    FetchQueue -> fetch -> FetchedQueue -> decode -> EmbedQueue -> embed_score
        -> persist (called in line: one transaction per batch) -> MatchQueue -> crossmatch_notify

`handoff` names what travels between them, `ledger` is the cycle's bookkeeping they share
(report counts, quarantine, duplicates, cursor moves). `DiscoveryPipeline` builds the stages
for a cycle, runs their workers in one task group and owns start/pause/stop.
"""
