package io.kvgate.routing.policy;

import io.kvgate.routing.config.ConfigException;
import io.kvgate.routing.config.ConfigProblem;
import java.util.List;

/** A policy file that does not parse or compile; carries every problem with its YAML path. */
public final class PolicyException extends ConfigException {

  public PolicyException(String source, List<ConfigProblem> problems) {
    super(source, problems);
  }
}
