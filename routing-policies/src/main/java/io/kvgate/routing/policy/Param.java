package io.kvgate.routing.policy;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Declares one parameter of a plugin: a component of the plugin's parameter record, whose name is
 * the YAML key. The record's {@code DEFAULTS} instance (given at registration) holds the default;
 * this annotation holds the range and the one-line documentation that {@code kvgate plugins} and
 * docs/ROUTING.md print. Supported component types: {@code double}, {@code int}, {@code long},
 * {@code boolean}, {@code String}, {@link java.time.Duration} and {@code List<String>}.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.RECORD_COMPONENT)
public @interface Param {

  /** What the parameter does, in one line. */
  String doc();

  /** Smallest accepted value (numbers only; inclusive). */
  double min() default Double.NEGATIVE_INFINITY;

  /** Largest accepted value (numbers only; inclusive). */
  double max() default Double.POSITIVE_INFINITY;

  /** True if the parameter has no default and must be given. */
  boolean required() default false;
}
