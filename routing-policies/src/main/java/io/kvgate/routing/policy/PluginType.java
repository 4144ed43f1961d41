package io.kvgate.routing.policy;

import io.kvgate.routing.config.ConfigNode;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * One registered plugin type: its YAML {@code type} name, its role, its parameter record with the
 * defaults, and the factory that builds a plugin from decoded parameters. The parameter record is
 * the single declaration of a plugin's settings: its components are the YAML keys (each annotated
 * with {@link Param}), its {@code defaults} instance holds the defaults; decoding, validation,
 * {@code kvgate plugins} and the ROUTING.md table all read it from here.
 *
 * @param <P> the parameter record
 * @param <T> the plugin role: {@link Filter}, {@link Scorer} or {@link Picker}
 */
public final class PluginType<P extends Record, T> {

  /** What a plugin does in a profile. */
  public enum Kind {
    FILTER,
    SCORER,
    PICKER;

    public String wireName() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private final String name;
  private final Kind kind;
  private final Class<T> role;
  private final String description;
  private final Class<P> parameters;
  private final P defaults;
  private final Function<? super P, ? extends T> factory;
  private final boolean readsScores;
  private final Constructor<P> constructor;
  private final RecordComponent[] components;

  PluginType(
      String name,
      Kind kind,
      Class<T> role,
      String description,
      Class<P> parameters,
      P defaults,
      Function<? super P, ? extends T> factory,
      boolean readsScores) {
    this.name = Objects.requireNonNull(name);
    this.kind = kind;
    this.role = role;
    this.description = description;
    this.parameters = parameters;
    this.defaults = Objects.requireNonNull(defaults, "defaults");
    this.factory = factory;
    this.readsScores = readsScores;
    this.components = parameters.getRecordComponents();
    Class<?>[] types = new Class<?>[components.length];
    for (int i = 0; i < components.length; i++) {
      RecordComponent c = components[i];
      types[i] = c.getType();
      if (c.getAnnotation(Param.class) == null) {
        throw new IllegalArgumentException(
            parameters.getName() + "." + c.getName() + " has no @Param annotation");
      }
      Param p = c.getAnnotation(Param.class);
      boolean number =
          c.getType() == double.class || c.getType() == int.class || c.getType() == long.class;
      if (!number && (!Double.isInfinite(p.min()) || !Double.isInfinite(p.max()))) {
        throw new IllegalArgumentException(
            parameters.getName() + "." + c.getName() + ": min/max apply to numbers only");
      }
      if (!supported(c)) {
        throw new IllegalArgumentException(
            parameters.getName() + "." + c.getName() + ": unsupported type " + c.getGenericType());
      }
      c.getAccessor().setAccessible(true);
    }
    try {
      this.constructor = parameters.getDeclaredConstructor(types);
      constructor.setAccessible(true);
    } catch (NoSuchMethodException e) {
      throw new IllegalArgumentException(parameters.getName() + " has no canonical constructor", e);
    }
  }

  private static boolean supported(RecordComponent c) {
    Class<?> t = c.getType();
    if (t == double.class
        || t == int.class
        || t == long.class
        || t == boolean.class
        || t == String.class
        || t == Duration.class) {
      return true;
    }
    return t == List.class
        && c.getGenericType() instanceof ParameterizedType p
        && p.getActualTypeArguments()[0] == String.class;
  }

  /** The YAML {@code type}, also the plugin's name in logs and metric tags. */
  public String name() {
    return name;
  }

  public Kind kind() {
    return kind;
  }

  /** One line on what the plugin does. */
  public String description() {
    return description;
  }

  public Class<P> parameters() {
    return parameters;
  }

  public P defaults() {
    return defaults;
  }

  /**
   * For pickers: true if the picker orders candidates by the weighted sum of the profile's scorers;
   * false if it computes its own ranking, so that scorers next to it would be ignored (validation
   * refuses them). Filters and scorers: false.
   */
  public boolean readsScores() {
    return readsScores;
  }

  /** Builds a plugin from parameters decoded by {@link #decode}. */
  T create(Record params) {
    return factory.apply(parameters.cast(params));
  }

  /** The plugin with the given role; the registry guarantees that {@code role} is this type's. */
  <R> R create(Class<R> wanted, Record params) {
    if (wanted != role) throw new IllegalStateException(name + " is a " + kind.wireName());
    return wanted.cast(create(params));
  }

  /**
   * Decodes {@code node} (the plugin's {@code parameters} mapping, possibly missing) into the
   * parameter record: unknown keys, wrong types and out-of-range values are problems with their
   * paths, and a parameter left out takes its default.
   */
  P decode(ConfigNode node) {
    int problemsBefore = node.problems().size();
    List<String> keys = new ArrayList<>();
    for (RecordComponent c : components) keys.add(c.getName());
    node.allowOnly(keys);
    Object[] args = new Object[components.length];
    for (int i = 0; i < components.length; i++) {
      RecordComponent c = components[i];
      Param p = c.getAnnotation(Param.class);
      String k = c.getName();
      Object dflt = defaultOf(c);
      Class<?> t = c.getType();
      if (p.required() && !node.has(k)) node.problem(k, "is required");
      if (t == double.class) args[i] = node.number(k, (Double) dflt, p.min(), p.max());
      else if (t == int.class) {
        args[i] =
            (int)
                node.integer(
                    k, (Integer) dflt, lower(p, Integer.MIN_VALUE), upper(p, Integer.MAX_VALUE));
      } else if (t == long.class) {
        args[i] = node.integer(k, (Long) dflt, lower(p, Long.MIN_VALUE), upper(p, Long.MAX_VALUE));
      } else if (t == boolean.class) args[i] = node.bool(k, (Boolean) dflt);
      else if (t == String.class) args[i] = node.string(k, (String) dflt, false);
      else if (t == Duration.class) args[i] = node.duration(k, (Duration) dflt);
      else {
        int before = node.problems().size();
        List<String> l = node.strings(k, false);
        if (p.required() && node.has(k) && l.isEmpty() && node.problems().size() == before) {
          node.problem(k, "must not be empty");
        }
        args[i] = node.has(k) ? List.copyOf(l) : dflt;
      }
    }
    // A record whose parameters have problems is not built: its own checks (a compact
    // constructor's) would only fail on values that are already reported.
    if (node.problems().size() > problemsBefore) return defaults;
    try {
      return instantiate(args);
    } catch (IllegalStateException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      node.problem(String.valueOf(cause.getMessage()));
      return defaults;
    }
  }

  private static long lower(Param p, long floor) {
    return Double.isInfinite(p.min()) ? floor : (long) Math.ceil(p.min());
  }

  private static long upper(Param p, long ceiling) {
    return Double.isInfinite(p.max()) ? ceiling : (long) Math.floor(p.max());
  }

  private Object defaultOf(RecordComponent c) {
    try {
      return c.getAccessor().invoke(defaults);
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException(e);
    }
  }

  private P instantiate(Object[] args) {
    try {
      return constructor.newInstance(args);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("cannot build " + parameters.getName(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** One parameter as documentation: name, type, default, range and what it does. */
  public record ParamDoc(String name, String type, String dflt, String range, String doc) {}

  /** The parameters in declaration order, for {@code kvgate plugins} and docs/ROUTING.md. */
  public List<ParamDoc> parameterDocs() {
    List<ParamDoc> out = new ArrayList<>();
    for (RecordComponent c : components) {
      Param p = c.getAnnotation(Param.class);
      Class<?> t = c.getType();
      String type =
          t == List.class
              ? "list of strings"
              : t == Duration.class ? "duration" : t == String.class ? "string" : t.getSimpleName();
      Object d = defaultOf(c);
      String dflt;
      if (p.required()) dflt = "required";
      else if (d instanceof Duration dur) dflt = ConfigNode.formatDuration(dur);
      else if (d instanceof Double x) dflt = number(x);
      else dflt = String.valueOf(d);
      String range = "";
      if (!Double.isInfinite(p.min()) || !Double.isInfinite(p.max())) {
        range = number(p.min()) + " to " + number(p.max());
      }
      out.add(new ParamDoc(c.getName(), type, dflt, range, p.doc()));
    }
    return out;
  }

  private static String number(double x) {
    if (Double.isInfinite(x)) return x > 0 ? "∞" : "-∞";
    return x == Math.rint(x) && Math.abs(x) < 1e15 ? Long.toString((long) x) : Double.toString(x);
  }

  @Override
  public String toString() {
    return name;
  }
}
