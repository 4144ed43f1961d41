package io.kvgate.sim;

/**
 * A snapshot of one simulated engine's counters and gauges.
 *
 * @param requests requests admitted to the scheduler (after validation and fault injection)
 * @param running requests in the running batch now
 * @param waiting requests queued for the running batch now
 * @param promptTokens prompt tokens of admitted requests
 * @param cachedTokens prompt tokens served from the local prefix cache
 * @param cacheHitRequests requests with at least one cached block
 * @param prefixCacheQueries prompt tokens looked up in the prefix cache (vLLM's counter)
 * @param prefixCacheHits prompt tokens found (vLLM's counter; equals {@code cachedTokens})
 * @param generationTokens tokens generated
 * @param finishedRequests requests that generated all their tokens
 * @param disconnects requests aborted because the client went away
 * @param prefillTokensComputed prompt tokens actually run through prefill (the work done)
 * @param transferredTokens prompt tokens received from a prefill engine instead of computed
 * @param bootstrapFailed SGLang decode legs that did not get their bootstrap room (not registered
 *     within the bootstrap timeout, bootstrap server unreachable, no bootstrap port) and were
 *     computed locally
 * @param bootstrapWaiting SGLang decode legs waiting for their bootstrap room now
 * @param bootstrapRooms rooms a prefill engine's bootstrap server holds now (registered, not yet
 *     taken)
 * @param kvCacheUsage fraction of KV blocks in use, 0..1
 * @param cachedBlocks blocks holding a reusable cached hash
 */
public record EngineStats(
    long requests,
    int running,
    int waiting,
    long promptTokens,
    long cachedTokens,
    long cacheHitRequests,
    long prefixCacheQueries,
    long prefixCacheHits,
    long generationTokens,
    long finishedRequests,
    long disconnects,
    long prefillTokensComputed,
    long transferredTokens,
    long bootstrapFailed,
    int bootstrapWaiting,
    int bootstrapRooms,
    double kvCacheUsage,
    int cachedBlocks) {}
