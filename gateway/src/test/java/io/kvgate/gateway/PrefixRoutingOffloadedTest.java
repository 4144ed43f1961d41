package io.kvgate.gateway;

/**
 * {@link PrefixRoutingTest} with every request body parsed and keyed on a worker thread and every
 * prefix-index write made there too: the path of long prompts, which must route exactly as the
 * event-loop path does.
 */
class PrefixRoutingOffloadedTest extends PrefixRoutingTest {

  @Override
  long offloadBodyBytes() {
    return 0;
  }
}
